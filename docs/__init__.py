"""The documentation's sources; a package only so that ``docs.gen`` (the generators of the
reference pages) imports as itself, whatever else is installed under the name ``docs``."""
