"""Tests of the QuickBooks Online sandbox (sandboxes/quickbooks/)."""
