"""Agent.teams gets an explicit table, Membership, carrying copies of the agent's pick keys.

The table is the one Django made for the plain many-to-many field (``inbox_agent_teams``), so
existing memberships stay. Triggers keep the copies equal to the agent and user rows in the
very statement that changes those (services, admin, bulk updates alike): PostgreSQL and
SQLite each get their own dialect.
"""

import datetime

import django.db.models.deletion
from django.db import NotSupportedError, migrations, models

EPOCH = {"postgresql": "'1970-01-01 00:00:00+00'::timestamptz", "sqlite": "'1970-01-01 00:00:00'"}

# The copies, computed from an agent row ``a`` and its user ``u``.
COPIES = """
    online = (a.availability = 'online'),
    can_take = ((a.max_open IS NULL OR a.open_count < a.max_open) AND u.is_active),
    open_count = a.open_count,
    last_assigned_at = COALESCE(a.last_assigned_at, {epoch})
"""

POSTGRES = """
CREATE FUNCTION inbox_membership_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE inbox_agent_teams m SET {copies}
    FROM inbox_agent a JOIN auth_user u ON u.id = a.user_id
    WHERE a.id = NEW.id AND m.agent_id = a.id;
    RETURN NULL;
END $$;
CREATE TRIGGER inbox_agent_membership_copy
    AFTER UPDATE OF availability, max_open, open_count, last_assigned_at ON inbox_agent
    FOR EACH ROW EXECUTE FUNCTION inbox_membership_copy();

CREATE FUNCTION inbox_membership_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.availability = 'online',
           (a.max_open IS NULL OR a.open_count < a.max_open) AND u.is_active,
           a.open_count,
           COALESCE(a.last_assigned_at, {epoch})
      INTO NEW.online, NEW.can_take, NEW.open_count, NEW.last_assigned_at
      FROM inbox_agent a JOIN auth_user u ON u.id = a.user_id
     WHERE a.id = NEW.agent_id;
    RETURN NEW;
END $$;
CREATE TRIGGER inbox_membership_fill
    BEFORE INSERT OR UPDATE OF agent_id ON inbox_agent_teams
    FOR EACH ROW EXECUTE FUNCTION inbox_membership_fill();

CREATE FUNCTION inbox_membership_user_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE inbox_agent_teams m SET {copies}
    FROM inbox_agent a JOIN auth_user u ON u.id = a.user_id
    WHERE a.user_id = NEW.id AND m.agent_id = a.id;
    RETURN NULL;
END $$;
CREATE TRIGGER auth_user_membership_copy
    AFTER UPDATE OF is_active ON auth_user
    FOR EACH ROW EXECUTE FUNCTION inbox_membership_user_copy();
"""

POSTGRES_DROP = """
DROP TRIGGER IF EXISTS auth_user_membership_copy ON auth_user;
DROP FUNCTION IF EXISTS inbox_membership_user_copy();
DROP TRIGGER IF EXISTS inbox_membership_fill ON inbox_agent_teams;
DROP FUNCTION IF EXISTS inbox_membership_fill();
DROP TRIGGER IF EXISTS inbox_agent_membership_copy ON inbox_agent;
DROP FUNCTION IF EXISTS inbox_membership_copy();
"""

# SQLite: one statement per trigger body; the copies come from correlated subqueries.
SQLITE_COPIES = """
    online = (SELECT a.availability = 'online' FROM inbox_agent a WHERE a.id = inbox_agent_teams.agent_id),
    can_take = (SELECT (a.max_open IS NULL OR a.open_count < a.max_open) AND u.is_active
                  FROM inbox_agent a JOIN auth_user u ON u.id = a.user_id WHERE a.id = inbox_agent_teams.agent_id),
    open_count = (SELECT a.open_count FROM inbox_agent a WHERE a.id = inbox_agent_teams.agent_id),
    last_assigned_at = COALESCE(
        (SELECT a.last_assigned_at FROM inbox_agent a WHERE a.id = inbox_agent_teams.agent_id), {epoch})
"""

SQLITE = [
    """CREATE TRIGGER inbox_agent_membership_copy
    AFTER UPDATE OF availability, max_open, open_count, last_assigned_at ON inbox_agent FOR EACH ROW
    BEGIN UPDATE inbox_agent_teams SET {sqlite_copies} WHERE agent_id = NEW.id; END""",
    """CREATE TRIGGER inbox_membership_fill
    AFTER INSERT ON inbox_agent_teams FOR EACH ROW
    BEGIN UPDATE inbox_agent_teams SET {sqlite_copies} WHERE id = NEW.id; END""",
    """CREATE TRIGGER auth_user_membership_copy
    AFTER UPDATE OF is_active ON auth_user FOR EACH ROW
    BEGIN UPDATE inbox_agent_teams SET {sqlite_copies}
          WHERE agent_id IN (SELECT id FROM inbox_agent WHERE user_id = NEW.id); END""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS auth_user_membership_copy",
    "DROP TRIGGER IF EXISTS inbox_membership_fill",
    "DROP TRIGGER IF EXISTS inbox_agent_membership_copy",
]


def _statements(vendor: str, *, drop: bool = False) -> list[str]:
    epoch = EPOCH[vendor]
    if vendor == "postgresql":
        sql = POSTGRES_DROP if drop else POSTGRES.format(copies=COPIES.format(epoch=epoch), epoch=epoch)
        return [sql]
    if vendor == "sqlite":
        sqlite_copies = SQLITE_COPIES.format(epoch=epoch)
        return SQLITE_DROP if drop else [s.format(sqlite_copies=sqlite_copies) for s in SQLITE]
    raise NotSupportedError(f"Membership triggers are written for PostgreSQL and SQLite, not {vendor}")


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in _statements(vendor):
        schema_editor.execute(statement, params=None)
    # Fill the copies of the memberships that exist already.
    sqlite_copies = SQLITE_COPIES.format(epoch=EPOCH.get(vendor, "NULL"))
    schema_editor.execute(f"UPDATE inbox_agent_teams SET {sqlite_copies}", params=None)


def uninstall(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, drop=True):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_webhook_subscriptions"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        # The table exists: Django created it for the plain many-to-many field.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "agent",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to="inbox.agent",
                                verbose_name="agent",
                            ),
                        ),
                        (
                            "team",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to="inbox.team",
                                verbose_name="team",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "team membership",
                        "verbose_name_plural": "team memberships",
                        "db_table": "inbox_agent_teams",
                        "unique_together": {("agent", "team")},
                    },
                ),
                migrations.AlterField(
                    model_name="agent",
                    name="teams",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="agents",
                        through="inbox.Membership",
                        to="inbox.team",
                        verbose_name="teams",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="membership",
            name="online",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="membership",
            name="can_take",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="membership",
            name="open_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="membership",
            name="last_assigned_at",
            field=models.DateTimeField(
                default=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.UTC), editable=False
            ),
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                condition=models.Q(("can_take", True)),
                fields=["team", "open_count", "last_assigned_at", "agent"],
                name="pick_least_open_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                condition=models.Q(("can_take", True)),
                fields=["team", "last_assigned_at", "agent"],
                name="pick_round_robin_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                condition=models.Q(("can_take", True), ("online", True)),
                fields=["team", "open_count", "last_assigned_at", "agent"],
                name="pick_least_open_online_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                condition=models.Q(("can_take", True), ("online", True)),
                fields=["team", "last_assigned_at", "agent"],
                name="pick_round_robin_online_idx",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
