"""books own the records; a push is its own unit of work; OAuth leases

Synced records, external tax rates and ledger accounts belong to the books a connection reaches
(``books_id``) rather than to the connection, so a reconnect to the same books finds them. Existing
connections predate books identity: each gets ``legacy:<connection id>`` (its own books, as before),
which its next connection check replaces.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 16:25:25.302220
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _backfill_books() -> None:
    bind = op.get_bind()
    legacy = "'legacy:' || CAST(id AS VARCHAR)" if bind.dialect.name == "postgresql" else "'legacy:' || id"
    op.execute(f"UPDATE accounting_connections SET books_id = {legacy} WHERE books_id IS NULL")
    for table in ("accounting_synced_records", "accounting_tax_rates", "ledger_accounts"):
        op.execute(
            f"UPDATE {table} SET books_id = (SELECT c.books_id FROM accounting_connections c "
            f"WHERE c.id = {table}.connection_id) WHERE connection_id IS NOT NULL"
        )


def upgrade() -> None:
    with op.batch_alter_table('accounting_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('last_sync_finished_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refresh_lease_holder', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('refresh_lease_expires_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('oauth_state_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pending_tenants', JSON, nullable=True))
        batch_op.create_index('ix_accounting_connections_books', ['organization_id', 'books_id'], unique=False)
        batch_op.create_index('ix_accounting_connections_lease', ['lease_expires_at'], unique=False)

    with op.batch_alter_table('accounting_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency_rate', sa.Numeric(precision=24, scale=12), nullable=True))

    with op.batch_alter_table('accounting_synced_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('push_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('push_started_at', models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('accounting_tax_rates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books_id', sa.String(length=255), nullable=True))

    _backfill_books()

    with op.batch_alter_table('accounting_synced_records', schema=None) as batch_op:
        batch_op.alter_column('books_id', existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column('push_failures', existing_type=sa.Integer(), server_default=None)
        batch_op.drop_constraint(batch_op.f('uq_accounting_synced_records_connection_id_object_type_object_id'), type_='unique')
        batch_op.drop_index('ix_synced_records_platform_object')
        batch_op.create_index('ix_synced_records_platform_object', ['organization_id', 'books_id', 'object_type', 'platform_object_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_accounting_synced_records_organization_id_books_id_object_type_object_id'), ['organization_id', 'books_id', 'object_type', 'object_id'])

    with op.batch_alter_table('accounting_tax_rates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounting_tax_rates_connection_id_platform_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_accounting_tax_rates_organization_id_books_id_platform_id'), ['organization_id', 'books_id', 'platform_id'])

    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.alter_column('books_id', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_ledger_accounts_connection_id_platform_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_ledger_accounts_organization_id_books_id_platform_id'), ['organization_id', 'books_id', 'platform_id'])


def downgrade() -> None:
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_ledger_accounts_organization_id_books_id_platform_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_ledger_accounts_connection_id_platform_id'), ['connection_id', 'platform_id'])
        batch_op.drop_column('books_id')

    with op.batch_alter_table('accounting_tax_rates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounting_tax_rates_organization_id_books_id_platform_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_accounting_tax_rates_connection_id_platform_id'), ['connection_id', 'platform_id'])
        batch_op.drop_column('books_id')

    with op.batch_alter_table('accounting_synced_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounting_synced_records_organization_id_books_id_object_type_object_id'), type_='unique')
        batch_op.drop_index('ix_synced_records_platform_object')
        batch_op.create_index('ix_synced_records_platform_object', ['connection_id', 'object_type', 'platform_object_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_accounting_synced_records_connection_id_object_type_object_id'), ['connection_id', 'object_type', 'object_id'])
        batch_op.drop_column('push_started_at')
        batch_op.drop_column('push_failures')
        batch_op.drop_column('books_id')

    with op.batch_alter_table('accounting_documents', schema=None) as batch_op:
        batch_op.drop_column('currency_rate')

    with op.batch_alter_table('accounting_connections', schema=None) as batch_op:
        batch_op.drop_index('ix_accounting_connections_lease')
        batch_op.drop_index('ix_accounting_connections_books')
        batch_op.drop_column('pending_tenants')
        batch_op.drop_column('oauth_state_hash')
        batch_op.drop_column('refresh_lease_expires_at')
        batch_op.drop_column('refresh_lease_holder')
        batch_op.drop_column('last_sync_finished_at')
        batch_op.drop_column('books_id')
