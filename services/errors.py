"""The base of errors that staff can fix themselves, such as a bad photo."""


class InputError(Exception):
    """Rejected input with a message for staff in Chinese.

    `code` is a stable English key for tests and logs; `str(error)` is the
    message.
    """

    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code = code
        self.message = message

    def __str__(self):
        return str(self.message)
