"""Engine tests: collected only where vLLM is importable (.venv-vllm). The main suite runs them
there through tests/test_vllm_backend.py::test_engine_suite_in_its_environment."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("vllm") else ["test_*.py"]
