"""editor hints: what intake noticed for the editor on an article (quoted content without its source,
text in another language or a legacy font), never a refusal

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('articles') as batch:
        batch.add_column(sa.Column('hints', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('articles') as batch:
        batch.drop_column('hints')
