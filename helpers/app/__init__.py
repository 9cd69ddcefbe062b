"""The tuning app's parts (notebook 06 teaches the app; ``notebooks/app.ipynb`` serves it):

- :mod:`helpers.app.controls`: the control widgets <-> the app's settings (and text values
  read through :func:`helpers.settings.parse_value`);
- :mod:`helpers.app.runner`: one background run at a time, Stop, restart on a change;
- :mod:`helpers.app.painter`: what that run does (paint, show each iteration and the first
  step, paint again on a change, warm or from the start image);
- :mod:`helpers.app.view`: the buttons, the status line in the user's words, the preview
  pictures, the loss plot and the history strip;
- :mod:`helpers.app.uploads`: uploaded images, kept in a temporary folder of the session;
- :mod:`helpers.app.code`: "copy as code", the Python call and the command line of a run;
- :mod:`helpers.app.saving`: where Save writes (checked before anything is written), and the
  writing;
- :mod:`helpers.app.engine`: the engine (TensorFlow) loaded only when needed.

:class:`helpers.widgets.TuningApp` puts them together.
"""
