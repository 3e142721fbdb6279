"""App layer: running commands on top of the analysis (load once, run, write).

Above :mod:`deadzone.geo`, below :mod:`deadzone.maps`, :mod:`deadzone.web`
and :mod:`deadzone.cli`: :mod:`deadzone.app.scenario` loads an audit's
scenario from the user's files, :mod:`deadzone.app.audit` runs and writes
an audit, :mod:`deadzone.app.batch` runs many (locally or on Dask).
"""
