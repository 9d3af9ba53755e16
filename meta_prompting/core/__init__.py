"""The one core: each mode a typed request, one context, reports as data.

The face (the flags or the wizard) builds one `Context` (the library, the model, the
limits and the events it wants to hear) and a request per mode, calls the core
function of that mode, and turns the report it returns into words and an exit code.
`context` and `requests` are the vocabulary; `modes` holds build, fill, list, check
and init; `answers` run, grade and refine; `chain` the chains.
"""
