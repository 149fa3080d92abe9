"""The entities the sandbox serves, by name and by the lower-case path segment Intuit's URLs use."""

from __future__ import annotations

from sandboxes.quickbooks.books import Kind
from sandboxes.quickbooks.names import (
    AccountKind, CompanyInfoKind, CustomerKind, ItemKind, PreferencesKind, TaxCodeKind, TaxRateKind, VendorKind,
)
from sandboxes.quickbooks.transactions import BillKind, BillPaymentKind, InvoiceKind, PaymentKind

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        BillKind(), InvoiceKind(), PaymentKind(), BillPaymentKind(), VendorKind(), CustomerKind(), ItemKind(),
        AccountKind(), TaxCodeKind(), TaxRateKind(), CompanyInfoKind(), PreferencesKind(),
    )
}
BY_PATH: dict[str, str] = {name.lower(): name for name in KINDS}
