"""Log formatting."""

import logging


class OneLineFormatter(logging.Formatter):
    """The message without its traceback: for expected refusals such as a Host not allowed."""

    def format(self, record: logging.LogRecord) -> str:
        brief = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(brief)
