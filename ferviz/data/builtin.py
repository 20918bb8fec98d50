"""ferviz's built-in data-source readers, registered through the public hook."""

from ferviz.registry import hookimpl


@hookimpl
def register_data_sources(register):
    from ferviz.data.readers import CsvReader, FolderReader, NpzReader, UnlabelledReader
    from ferviz.data.synthetic import SyntheticReader

    for reader in (SyntheticReader(), NpzReader(), CsvReader(), FolderReader(), UnlabelledReader()):
        register(reader)
