"""payments and products

The platform's products (what invoice lines sell, ``PUT /products/{id}``) and payment records (a bill paid,
an invoice paid: ``PUT /payment-records/{id}``); a line may name the product it sells; a connection keeps the
organization's push defaults (the ledger account payments go to, the one for products without their own).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:12:43.727764
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('products',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('ledger_account_id', sa.String(length=128), nullable=True),
    sa.Column('tax_rate_value', sa.Integer(), nullable=True),
    sa.Column('accounting_tax_rate_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_products_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_organization_id_updated_at', ['organization_id', 'updated_at'], unique=False)

    op.create_table('payment_records',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('payable_id', sa.Uuid(), nullable=True),
    sa.Column('receivable_id', sa.Uuid(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_date', sa.Date(), nullable=False),
    sa.Column('payment_method', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint('(payable_id IS NULL) <> (receivable_id IS NULL)', name=op.f('ck_payment_records_settles_one_document')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_payment_records_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payable_id'], ['payables.id'], name=op.f('fk_payment_records_payable_id_payables'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['receivable_id'], ['receivables.id'], name=op.f('fk_payment_records_receivable_id_receivables'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_records'))
    )
    with op.batch_alter_table('payment_records', schema=None) as batch_op:
        batch_op.create_index('ix_payment_records_organization_id_updated_at', ['organization_id', 'updated_at'], unique=False)
        batch_op.create_index('ix_payment_records_payable_id', ['payable_id'], unique=False)
        batch_op.create_index('ix_payment_records_receivable_id', ['receivable_id'], unique=False)

    with op.batch_alter_table('accounting_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('defaults', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('payable_line_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payable_line_items_product_id_products'), 'products', ['product_id'], ['id'])

    with op.batch_alter_table('receivable_line_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_receivable_line_items_product_id_products'), 'products', ['product_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('receivable_line_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_receivable_line_items_product_id_products'), type_='foreignkey')
        batch_op.drop_column('product_id')

    with op.batch_alter_table('payable_line_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payable_line_items_product_id_products'), type_='foreignkey')
        batch_op.drop_column('product_id')

    with op.batch_alter_table('accounting_connections', schema=None) as batch_op:
        batch_op.drop_column('defaults')

    with op.batch_alter_table('payment_records', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_records_receivable_id')
        batch_op.drop_index('ix_payment_records_payable_id')
        batch_op.drop_index('ix_payment_records_organization_id_updated_at')

    op.drop_table('payment_records')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_organization_id_updated_at')

    op.drop_table('products')
