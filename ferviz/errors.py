"""ferviz's own exceptions. Library code raises these; only the CLI turns them into messages."""


class FervizError(Exception):
    """Base class of every error ferviz raises on purpose (bad input, bad files, bad options)."""


class DataError(FervizError):
    """A data source is missing, unreadable or malformed."""


class CheckpointError(FervizError):
    """A checkpoint is missing, corrupt, unsafe, or of an unknown format."""


class UnsupportedModelError(FervizError):
    """The loaded model cannot do what was asked: a method that hooks into the network's layers
    (Grad-CAM, guided backprop, filter ascent, layer listings) on a TorchScript file or a
    ``torch.export`` program, whose layers run as compiled code. A refusal, not a failure: the
    report shows it in the section and goes on."""


class ReportIncomplete(FervizError):
    """A report was written, but some of its sections failed (their errors are shown in place).

    ``index`` is the written report's index.html; ``failed`` maps section keys to their errors.
    """

    def __init__(self, message: str, index=None, failed: dict | None = None):
        super().__init__(message)
        self.index, self.failed = index, dict(failed or {})


class OptionError(FervizError):
    """An option value is out of range or of the wrong type."""


class OutputError(OptionError):
    """An output location (--out...) cannot be written, or holds something that must not be replaced."""


class Interrupted(FervizError):
    """Work stopped by Ctrl-C (SIGINT) after saving what it could; the CLI exits with 130."""


class PluginError(FervizError):
    """A plugin failed to load or registered a name that is already taken."""


class UnknownNameError(FervizError, KeyError):
    """A name (model, explainer, data kind, layer...) that is not registered.

    The message lists what does exist.
    """

    def __init__(self, kind: str, name: str, known):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class DataWarning(UserWarning):
    """Something in the data was skipped or changed on the way in (bad rows with ``skip_bad``,
    unsafe archive members, transparent pixels); the CLI shows it as one ``warning:`` line."""
