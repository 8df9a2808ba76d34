"""The one exception type the appliance raises at its seams, with a machine-readable code."""


class ApplianceError(Exception):
    """A failure with a code that names the stage first (`stt-model-missing`) and a message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
