"""One module per migration, applied in order by ``Store.upgrade``."""
