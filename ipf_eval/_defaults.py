"""Package-wide defaults (placeholder until the defaults module lands; see issue 11)."""

from typing import Final, Literal

N_BOOT: Final = 999
CONTROL_GROUP: Final[Literal["never_treated", "not_yet_treated"]] = "never_treated"
