"""The small exception tree of guides-qa: every message says what to do next."""


class RagError(Exception):
    """Base class for errors a user can act on; the CLI and API show the message only."""


class CorpusError(RagError):
    """The corpus folder is missing, empty, or holds nothing usable."""


class IndexNotFoundError(RagError):
    """No index where one was expected."""


class IndexIncompatibleError(RagError):
    """The index was built with other settings, another model, or is damaged."""


class IndexBuildError(RagError):
    """A build could not complete; the serving index is untouched."""


class BadQueryError(RagError):
    """A query or question the system cannot take (empty, too long, ...)."""


class GeneratorError(RagError):
    """The answer generator failed (e.g. the LLM server errored or timed out)."""


class OverloadedError(RagError):
    """More work is waiting than the server takes on; the client should retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
