"""per-recipient delivery and claims on the outbox; leases for mailboxes held by one process

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        # address -> {"state": pending|sent|failed, "code", "error", "at", "reported"}
        batch.add_column(sa.Column('deliveries', sa.JSON(), nullable=False, server_default='{}'))
        batch.add_column(sa.Column('claimed_by', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        # A recipient failed for good and the administrator has not been told yet.
        batch.add_column(sa.Column('needs_alert', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index('ix_outbox_needs_alert', ['agency', 'needs_alert'])
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=500), primary_key=True),
        sa.Column('agency', sa.String(length=64), sa.ForeignKey('agencies.slug'), nullable=False),
        sa.Column('holder', sa.String(length=120), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('acquired_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('leases')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_needs_alert')
        batch.drop_column('needs_alert')
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')
        batch.drop_column('deliveries')
