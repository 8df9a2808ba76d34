"""The Settings page (`/settings`): the settings an admin may change, checked by the same rules as the INI file.

The technician's file (/etc/appliance/appliance.ini) stays the technician's: the panel cannot write there and
does not try. What an admin changes goes to `[paths] data_dir / panel-settings.ini`, which `settings.load()`
reads after that file and before the environment. Only the values that differ from the technician's file are
kept, so a later change to that file still counts for everything the admins left alone. A save is checked by
loading the whole candidate file with `settings.load()` before it replaces the old one: a value the call
service would refuse at start is refused here, with the same message, and nothing changes.

The call service and the worker read settings when they start: a saved change reaches calls after
`systemctl restart appliance.target`, which the page says.
"""

from __future__ import annotations

import asyncio
import configparser
import dataclasses
import io
import os
import threading
import typing
from pathlib import Path

from aiohttp import web

from appliance import settings as settings_module
from appliance.errors import ApplianceError
from appliance.panel.auth import audit
from appliance.panel.context import PANEL, SESSION
from appliance.panel.html import Markup, html, join
from appliance.panel.pages import _csrf, page, redirect

SECRETS = {("smtp", "password"), ("line", "sip_password")}
HEADER = ("# Written by the admin panel (Settings page): what admins changed from the settings file.\n"
          "# Read after that file and before APPLIANCE_* variables. Edit it in the panel, not here.\n")


@dataclasses.dataclass(frozen=True)
class Field:
    section: str
    key: str
    kind: object
    doc: str


def fields() -> list[Field]:
    """Every setting an admin may change, in the order the settings module lists them."""
    hints = {top.name: typing.get_type_hints(top.default_factory) for top in dataclasses.fields(settings_module.Settings)}
    return [Field(section, key, hints[section][key], doc) for section, key, _, doc in settings_module.describe()
            if settings_module.from_panel(section, key)]


def as_text(value) -> str:
    """A setting's value as the INI file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Editor:
    """Reads the settings as the files say now, and writes the panel's file."""

    def __init__(self, config: str | os.PathLike | None, data_dir: Path, environ: typing.Mapping[str, str] | None = None):
        self.config = settings_module.config_path(config)  # the technician's file: given, $APPLIANCE_CONFIG or /etc
        self.path = data_dir / settings_module.PANEL_FILE
        self.environ = os.environ if environ is None else environ
        self._saving = threading.Lock()  # two admins saving at once: one after the other

    def _load(self, panel_file=None):
        return settings_module.load(self.config, self.environ, panel_file=self.path if panel_file is None else panel_file)

    def saved(self) -> dict[tuple[str, str], str]:
        """What the panel's file holds now."""
        if not self.path.is_file():
            return {}
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.path, encoding="utf-8")
        return {(section, key): value for section in parser.sections() for key, value in parser.items(section)}

    def locked(self, item: Field) -> str | None:
        """The environment variable that decides this setting, if one does (the panel's value would not count)."""
        name = settings_module.env_name(item.section, item.key)
        return name if name in self.environ else None

    def current(self) -> tuple[dict, dict]:
        """(what each setting is now, with the panel's changes; what the technician's file alone gives)."""
        return values(self._load()), values(self._load(panel_file=False))

    def save(self, submitted: typing.Mapping[str, str]) -> list[str]:
        """Keep the values in `submitted` (`section.key` → text) that differ from the technician's file, after
        loading the result as the services will; returns what changed, for the audit log. An ApplianceError
        (the value, the rule it breaks) leaves the file as it was."""
        saved = self.saved()
        _, base = self.current()
        before, _ = self.current()
        kept = {}
        for item in fields():
            where = (item.section, item.key)
            if self.locked(item):
                if where in saved:
                    kept[where] = saved[where]
                continue
            text = submitted.get(f"{item.section}.{item.key}")
            if text is None or (where in SECRETS and text == ""):  # not on the form, or a password left blank
                if where in saved:
                    kept[where] = saved[where]
                continue
            text = text.strip().replace("\r", "").replace("\n", " ")
            if text != base[where]:
                kept[where] = text
        candidate = self.path.with_name(self.path.name + ".new")
        candidate.parent.mkdir(parents=True, exist_ok=True)
        candidate.write_text(render(kept), encoding="utf-8")
        try:
            after = self._load(panel_file=candidate)
        except ApplianceError as exc:
            candidate.unlink()
            raise ApplianceError(exc.code, exc.message.replace(str(candidate), "the form")) from None
        os.replace(candidate, self.path)
        changed, now = [], values(after)
        for item in fields():
            where = (item.section, item.key)
            if now[where] != before[where]:
                shown = "(a new password)" if where in SECRETS else f"{before[where]!r} → {now[where]!r}"
                changed.append(f"changed [{item.section}] {item.key}: {shown}")
        return changed


def values(loaded: settings_module.Settings) -> dict[tuple[str, str], str]:
    """(section, key) → text of every setting an admin may change."""
    return {(f.section, f.key): as_text(getattr(getattr(loaded, f.section), f.key)) for f in fields()}


def render(kept: dict[tuple[str, str], str]) -> str:
    """The panel's file for these values, sections in the settings module's order."""
    parser = configparser.ConfigParser(interpolation=None)
    for (section, key), value in kept.items():
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    out = io.StringIO()
    parser.write(out)
    return HEADER + out.getvalue()


EDITOR = web.AppKey("editor", Editor)


def _input(item: Field, value: str, locked: str | None, was_set: bool) -> Markup:
    name = f"{item.section}.{item.key}"
    disabled = Markup(" disabled") if locked else Markup("")
    if typing.get_origin(item.kind) is typing.Literal or item.kind is bool:
        options = typing.get_args(item.kind) if item.kind is not bool else ("true", "false")
        return html('<select name="{name}" id="{name}"{disabled}>{options}</select>', name=name, disabled=disabled,
                    options=join(html('<option value="{o}"{sel}>{o}</option>', o=option,
                                      sel=Markup(" selected") if option == value else "") for option in options))
    if (item.section, item.key) in SECRETS:
        hint = "set; leave blank to keep it" if was_set else "not set"
        return html('<input type="password" name="{name}" id="{name}" value="" placeholder="{hint}" '
                    'autocomplete="new-password"{disabled}>', name=name, hint=hint, disabled=disabled)
    mode = Markup(' inputmode="decimal"') if item.kind in (int, float) else Markup("")
    return html('<input type="text" name="{name}" id="{name}" value="{value}"{mode}{disabled}>', name=name,
                value=value, mode=mode, disabled=disabled)


def _form(request, shown: dict, base: dict, saved: dict, error: str = "", note: str = "") -> Markup:
    editor = request.app[EDITOR]
    sections, rows = [], []
    current = None
    for item in fields():
        where = (item.section, item.key)
        if item.section != current:
            if rows:
                sections.append(html('<fieldset><legend>[{s}]</legend>{rows}</fieldset>', s=current, rows=join(rows)))
            current, rows = item.section, []
        locked = editor.locked(item)
        if locked:
            origin = html('<span class="origin">set by {v} in the environment; the panel cannot change it</span>',
                          v=locked)
        elif where in saved:
            origin = html('<span class="origin changed">changed in the panel (the file says {b})</span>',
                          b="a password" if where in SECRETS else repr(base[where]))
        else:
            origin = Markup('<span class="origin">as the settings file says</span>')
        was_set = bool(shown.get(where))
        rows.append(html('<div class="setting" data-setting="{s}.{k}"><label for="{s}.{k}">{k}</label>{input}'
                         '<small>{doc} {origin}</small></div>', s=item.section, k=item.key, doc=item.doc,
                         input=_input(item, "" if where in SECRETS else shown.get(where, ""), locked, was_set),
                         origin=origin))
    if rows:
        sections.append(html('<fieldset><legend>[{s}]</legend>{rows}</fieldset>', s=current, rows=join(rows)))
    banner = html('<p class="error" role="alert">{e} Nothing was saved.</p>', e=error) if error else Markup("")
    saved_note = html('<p class="saved" role="status">{n}</p>', n=note) if note else Markup("")
    where = editor.config or "no settings file (the defaults)"
    intro = html('<p>The technician\'s settings file is <code>{config}</code>; what you change here is kept in '
                 '<code>{mine}</code> and counts over it. Each value is checked by the same rules as that file '
                 'before anything is saved. The call service and the worker take a change when they restart '
                 '(<code>systemctl restart appliance.target</code>, or the box restarting). Folders, models and '
                 'the panel\'s own address stay in the technician\'s file.</p>', config=str(where),
                 mine=str(editor.path))
    return html('{banner}{saved}{intro}<form method="post" action="/settings" class="settings">'
                '<input type="hidden" name="csrf" value="{csrf}">{sections}'
                '<p><button type="submit">Save settings</button></p></form>', banner=banner, saved=saved_note,
                intro=intro, csrf=_csrf(request), sections=join(sections))


async def settings_page(request):
    editor = request.app[EDITOR]
    try:
        shown, base = await asyncio.to_thread(editor.current)
    except ApplianceError as exc:  # the files on disk do not load: say so (the services would not start either)
        return page(request, "Settings", html('<p class="error" role="alert">The settings do not load: {e}</p>'
                                              '<p>Fix the file named there; the panel will show the form again.</p>',
                                              e=str(exc)), status=500)
    count = request.query.get("saved")
    note = f"Saved: {count} change{'s' if count != '1' else ''}. Restart the services to use them." if count else ""
    return page(request, "Settings", _form(request, shown, base, editor.saved(), note=note))


async def settings_save(request):
    editor = request.app[EDITOR]
    form = await request.post()
    submitted = {name: value for name, value in form.items() if isinstance(value, str) and name != "csrf"}
    try:
        changed = await asyncio.to_thread(editor.save, submitted)
    except ApplianceError as exc:
        shown, base = await asyncio.to_thread(editor.current)
        for item in fields():  # show what the admin typed, to correct it
            name = f"{item.section}.{item.key}"
            if name in submitted and (item.section, item.key) not in SECRETS:
                shown[(item.section, item.key)] = submitted[name]
        return page(request, "Settings", _form(request, shown, base, editor.saved(), error=str(exc)), status=400)
    who = request[SESSION].admin
    if changed:
        await request.app[PANEL].records.run(_audit_all, who, changed)
    return redirect(f"/settings?saved={len(changed)}")


def _audit_all(who: str, changed: list[str]) -> None:
    for what in changed:
        audit(who, what)


def setup(app: web.Application, config: str | os.PathLike | None, data_dir: Path) -> None:
    """The Settings page and its routes."""
    app[EDITOR] = Editor(config, data_dir)
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings", settings_save)
