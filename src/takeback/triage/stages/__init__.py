"""The scan's stages, one module each, plain functions over one :class:`~.context.ScanContext`:
:mod:`.start` (create or resume, list the sources), :mod:`.process` (workers, commit),
:mod:`.match` (bank matches of each batch), :mod:`.seal` (record hashes, sealed batches),
:mod:`.archives` (list members, read them for the workers, verify the files after), :mod:`.complete`
(group, complete, or record a stop). :mod:`takeback.triage.pipeline` runs them in order."""
