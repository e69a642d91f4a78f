"""the rule that decided an inbound message, apart from its reason

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages') as batch:
        batch.add_column(sa.Column('rule', sa.String(length=64), nullable=False, server_default=''))
    # Until now the reason was stored as "rule: reason": split what is there.
    inbound = sa.table('inbound_messages', sa.column('id', sa.Integer), sa.column('rule', sa.String),
                       sa.column('reason', sa.Text))
    conn = op.get_bind()
    for row_id, reason in conn.execute(sa.select(inbound.c.id, inbound.c.reason)).all():
        rule, sep, rest = (reason or "").partition(": ")
        if sep and rule and " " not in rule:
            conn.execute(inbound.update().where(inbound.c.id == row_id).values(rule=rule, reason=rest))


def downgrade() -> None:
    inbound = sa.table('inbound_messages', sa.column('id', sa.Integer), sa.column('rule', sa.String),
                       sa.column('reason', sa.Text))
    conn = op.get_bind()
    for row_id, rule, reason in conn.execute(sa.select(inbound.c.id, inbound.c.rule, inbound.c.reason)).all():
        if rule:
            conn.execute(inbound.update().where(inbound.c.id == row_id).values(reason=f"{rule}: {reason}"))
    with op.batch_alter_table('inbound_messages') as batch:
        batch.drop_column('rule')
