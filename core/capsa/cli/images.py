"""Image commands: ``images``, ``tag``, ``untag``, ``rmi``, ``image exists|prune|history|inspect``."""
from __future__ import annotations

import fnmatch
import sys
from typing import Annotated, Any, Optional

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt, QuietOpt
from capsa.cli.state import open_store, session
from capsa.errors import CapsaError, ImageNotFound, UsageError

Images = Annotated[list[str], typer.Argument(help="Images by name or id", show_default=False)]
NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Do not truncate output")]

IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Created": "CREATED", "Size": "SIZE",
                  "Digest": "DIGEST", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED"}
HISTORY_HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def _matches_reference(pattern: str, name: str) -> bool:
    repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    path = repo.split("/", 1)[1] if "/" in repo else repo
    short = path.rsplit("/", 1)[-1]
    forms = {name, repo, path, f"{path}:{tag}", short, f"{short}:{tag}"}
    return any(fnmatch.fnmatchcase(form, pattern) for form in forms)


def _filter(images: list[Any], filters: list[str], store: Any) -> list[Any]:
    from capsa.cli.humanize import parse_time

    for spec in filters:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"invalid filter {spec!r}", hint="filters look like KEY=VALUE, e.g. dangling=true")
        if key == "dangling":
            if value not in ("true", "false"):
                raise UsageError(f"invalid dangling filter value {value!r}", hint="use dangling=true or dangling=false")
            images = [i for i in images if (not i.names) == (value == "true")]
        elif key == "reference":
            images = [i for i in images if any(_matches_reference(value, n) for n in i.names)]
        elif key == "id":
            images = [i for i in images if i.id.startswith(value.removeprefix("sha256:"))]
        elif key == "label":
            lk, lsep, lv = value.partition("=")
            def has(i: Any) -> bool:
                labels = (store.config_of(i).get("config") or {}).get("Labels") or {}
                return lk in labels and (not lsep or labels[lk] == lv)
            images = [i for i in images if has(i)]
        elif key in ("before", "since"):
            pivot = parse_time(store.find_image(value).created)
            images = [i for i in images if (parse_time(i.created) < pivot) == (key == "before") and parse_time(i.created) != pivot]
        else:
            raise UsageError(f"invalid filter key {key!r}", hint="supported: dangling, reference, id, label, before, since")
    return images


def images(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all images (default hides intermediate images)")] = False,
    quiet: QuietOpt = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: NoTrunc = False,
    noheading: Annotated[bool, typer.Option("--noheading", "-n", help="Do not print column headings")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions provided")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=output.FORMAT_HELP)] = None,
) -> None:
    """List images in local storage."""
    from capsa.image.views import list_json, list_rows

    store = open_store(session(ctx))
    with store.reading():
        found = [i for i in store.images.all() if all or not i.intermediate]
        found = _filter(found, list(filter or []), store)
        found.sort(key=lambda i: i.created, reverse=True)
        if format == "json":
            output.emit_one([list_json(i, store.config_of(i)) for i in found], "json", str)
            return
    rows = [row for image in found for row in list_rows(image)]
    if no_trunc:
        for row in rows:
            row["ID"] = row["FullID"]
    if quiet:
        output.write("".join(f"{i}\n" for i in dict.fromkeys(r["ID"] for r in rows)))
        return
    cols = ["{{.Repository}}", "{{.Tag}}", *(["{{.Digest}}"] if digests else []), "{{.ID}}", "{{.Created}}", "{{.Size}}"]
    table = "table " + "\t".join(cols)
    if noheading:
        table = table[len("table "):]
        format = format.removeprefix("table ") if format else None
    output.emit_list(rows, format, table, IMAGES_HEADERS)


def tag(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image to tag")],
        targets: Annotated[list[str], typer.Argument(help="New names: NAME[:TAG]")]) -> None:
    """Add an additional name to a local image."""
    from capsa import plugins
    from capsa.image.reference import parse_reference

    names = [str(parse_reference(t)) for t in targets]
    store = open_store(session(ctx))
    with store.writing():
        found = store.find_image(image)
        found.names = list(dict.fromkeys([*found.names, *names]))
        store.images.put(found)
    plugins.call("capsa_image_event", action="tag", image_id=found.id, names=names)


def untag(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image to untag")],
          names: Annotated[Optional[list[str]], typer.Argument(help="Names to remove (default: all)")] = None) -> None:
    """Remove one or more names from a locally-stored image."""
    from capsa import plugins
    from capsa.image.reference import parse_reference

    wanted = [str(parse_reference(n)) for n in names or []]
    store = open_store(session(ctx))
    with store.writing():
        found = store.find_image(image)
        for name in wanted:
            if name not in found.names:
                raise ImageNotFound(f"{name}: tag not known", hint=f"the image's names: {', '.join(found.names) or 'none'}")
        removed = wanted or list(found.names)
        found.names = [n for n in found.names if n not in removed]
        store.images.put(found)
    plugins.call("capsa_image_event", action="untag", image_id=found.id, names=removed)


def rmi(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Images by name or id", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove images with several names by id, and the containers using them")] = False,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all images")] = False,
) -> None:
    """Remove one or more images from local storage.

    Exit codes as podman documents: 1 when an image is not known (the others are removed),
    2 when a container uses it (without --force), 125 otherwise.
    """
    from capsa import plugins
    from capsa.cli.containers import records_of

    if all == bool(refs):
        raise UsageError("give image names or ids, or --all", hint="capsa rmi IMAGE... | capsa rmi --all")
    sess = session(ctx)
    store = open_store(sess)
    records = records_of(sess)
    missing = 0
    lines: list[str] = []
    events: list[tuple[str, str, list[str]]] = []
    with store.writing():
        images = {i.id: i for i in store.images.all()}
        untag: dict[str, list[str]] = {}  # image id -> names to drop (the image stays)
        doomed: set[str] = set(images) if all else set()
        for ref in refs or []:  # plan everything first: a refusal changes nothing
            try:
                image = store.find_image(ref)
            except ImageNotFound as exc:
                print(f"Error: {exc.message}", file=sys.stderr)
                missing += 1
                continue
            named = [n for n in store.name_candidates(ref) if n in image.names]
            if named and len(set(image.names) - set(untag.get(image.id, [])) - set(named)) > 0:
                untag.setdefault(image.id, []).extend(named)
            elif not named and len(image.names) > 1 and not force:
                raise UsageError(f"unable to delete image {image.id[:12]} by ID with more than one tag ({', '.join(image.names)})",
                                 hint="untag the names first, or use --force")
            else:
                doomed.add(image.id)
        users = [c for c in records.all() if c.image_id in doomed]
        if users and not force:
            first = users[0]
            raise CapsaError(f"image used by {first.id}: image is in use by a container: consider listing external "
                             f"containers and force-removing image", hint="remove the container first, or use rmi --force",
                             exit_code=2)
        if users:
            from capsa.container import lifecycle

            for config in users:
                lifecycle.stop(sess, records, config, 0, "SIGKILL")
                lifecycle.wait_monitor_gone(records, config)
                lifecycle.remove_stopped_locked(store, records, config.id, config.layer_id)
        for image_id, names in untag.items():
            if image_id in doomed:
                continue
            image = images[image_id]
            image.names = [n for n in image.names if n not in names]
            store.images.put(image)
            lines += [f"Untagged: {n}" for n in dict.fromkeys(names)]
            events.append(("untag", image_id, names))
        for image_id in doomed:
            lines += [f"Untagged: {n}" for n in images[image_id].names]
        store.delete_images([images[i] for i in doomed])
        lines += [f"Deleted: {image_id}" for image_id in doomed]
        events += [("remove", i, images[i].names) for i in doomed]
    output.write("".join(f"{line}\n" for line in lines))
    for action, image_id, names in events:
        plugins.call("capsa_image_event", action=action, image_id=image_id, names=names)
    if missing:
        raise typer.Exit(1)


def exists(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image name or id")]) -> None:
    """Check if an image exists in local storage: exit 0 if it does, 1 if not."""
    store = open_store(session(ctx))
    with store.reading():
        try:
            store.find_image(image)
        except ImageNotFound:
            raise typer.Exit(1) from None


def prune(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all unused images, not just dangling ones")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="Only prune images matching these filters")] = None,
) -> None:
    """Remove unused images (dangling ones; with --all every image no container uses)."""
    if not force:
        what = "all images without at least one container associated with them" if all else "all dangling images"
        sys.stderr.write(f"WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    store = open_store(session(ctx))
    if not store.exists():
        return
    with store.writing():
        candidates = _filter(store.images.all(), list(filter or []), store)
        doomed = [i for i in candidates if all or not i.names]
        store.delete_images(doomed)
    output.write("".join(f"{i.id}\n" for i in doomed))


def history(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image name or id")],
    no_trunc: NoTrunc = False,
    quiet: QuietOpt = False,
    human: Annotated[bool, typer.Option("--human", "-H", help="Display sizes and dates in human readable format")] = True,
    format: FormatOpt = None,
) -> None:
    """Show the history of an image."""
    from capsa.image.views import history_rows

    store = open_store(session(ctx))
    with store.reading():
        rows = history_rows(store, store.find_image(image))
    for row in rows:
        if row["ID"] != "<missing>" and not no_trunc:
            row["ID"] = row["ID"][:12]
        if not no_trunc and len(row["CreatedBy"]) > 45:
            row["CreatedBy"] = row["CreatedBy"][:42] + "..."
        if not human:
            row["Size"], row["Created"] = str(row["RawSize"]), row["CreatedAt"]
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    table = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    output.emit_list(rows, format, table, HISTORY_HEADERS, quiet_field="ID", quiet=quiet)


def image_inspect(ctx: typer.Context, refs: Images, format: FormatOpt = None) -> None:
    """Display the configuration of one or more images."""
    from capsa.cli.inspect import inspect_objects

    inspect_objects(ctx, refs, "image", format)


def register(app: typer.Typer) -> None:
    """Top-level commands and the ``image`` group, as podman names them."""
    group = typer.Typer(help="Manage images", no_args_is_help=True)
    for name, fn in (("ls", images), ("list", images), ("tag", tag), ("untag", untag), ("rm", rmi), ("exists", exists),
                     ("prune", prune), ("history", history), ("inspect", image_inspect)):
        group.command(name)(fn)
    app.add_typer(group, name="image")
    for name, fn in (("images", images), ("tag", tag), ("untag", untag), ("rmi", rmi), ("history", history)):
        app.command(name)(fn)
