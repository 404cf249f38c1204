"""Price helpers: a plain module outside every convention folder.

loader does not scan `lib/`, but it records who imports this file, so saving it reloads the
routes that use it.
"""

from decimal import Decimal


def format_price(cents: int, currency: str = "EUR") -> str:
    """`1999` -> `"19.99 EUR"`."""
    return f"{Decimal(cents) / 100:.2f} {currency}"
