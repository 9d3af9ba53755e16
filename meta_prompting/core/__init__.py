"""The one core: each mode a typed request, one context, reports as data.

The face (the flags or the wizard) builds one `Context` (the library, the model, the
limits and the events it wants to hear) and a request per mode, calls the core
function of that mode, and turns the report it returns into words and an exit code.
`context` is the shared vocabulary; each mode's request sits beside its function:
`build`; `library` (fill, list, check, init); `answers` (run, grade, refine); `chain`.
"""
