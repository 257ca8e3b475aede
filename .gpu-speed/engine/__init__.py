"""Everything that is not UI. Never imports `fgtui.app`."""
