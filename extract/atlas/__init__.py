"""Atlas building and placement on top of extraction: embed a recorded population probe by probe
(`population`), build and calibrate an atlas (`build`), place new models in one (`place`)."""
