"""The one exception type users see for bad input (no notebook: every notebook meets it)."""


class StyleTransferError(ValueError):
    """Bad input: the message says what is wrong and what to do about it.

    The CLI prints it as one line and exits with status 2; notebooks show it without a
    TensorFlow traceback.
    """
