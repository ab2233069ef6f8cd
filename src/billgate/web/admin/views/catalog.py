"""Catalog (``/admin/catalog``): products with their prices, included items and flags,
product lines and item definitions; create and edit each (a form, then a preview of the
differences, then Save), archive, and export the live catalog as a catalog file.

Validation is the catalog's own (``catalog_spec`` and the upserts' reference checks, run
and rolled back for the preview), so the console refuses exactly what ``upsertProduct``
refuses, with the same messages, next to the field they name. Save parses the previewed
document again and, if the stored entry changed since the preview, shows the new
differences instead of overwriting them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import catalog
from billgate.billing.catalog_spec import parse_item, parse_product, parse_product_line
from billgate.errors import BillgateError, CatalogErrors, InvalidInput
from billgate.web.admin import calls, catalog_forms, forms
from billgate.web.admin.actions import perform
from billgate.web.admin.console import Ctx
from billgate.web.admin.forms import FormState


@dataclass(frozen=True)
class Kind:
    key: str  # URL part and form kind
    label: str
    id_field: str
    mutation: str
    archive_mutation: str
    parse: Callable[[Any], Any]
    document: Callable[[Any], dict[str, Any]]


KINDS = {
    "products": Kind("products", "product", "productId", "upsertProduct", "archiveProduct",
                     parse_product, catalog_forms.product_document),
    "items": Kind("items", "item", "itemId", "upsertItemDefinition", "archiveItemDefinition",
                  parse_item, catalog_forms.item_document),
    "lines": Kind("lines", "product line", "productLineId", "upsertProductLine",
                  "archiveProductLine", parse_product_line, catalog_forms.line_document),
}
CHECKBOXES = ("serverOnly", "stackable", "includedByDefault")
ARCHIVE_KINDS = {"products": "product", "items": "item", "lines": "productLine"}


async def _stored(ctx: Ctx, kind: Kind, entry_id: str) -> dict[str, Any] | None:
    """The live entry as a canonical document (what a spec's ``as_document`` gives)."""
    async with ctx.runtime.db.read_session() as session:
        if kind.key == "products":
            row = await catalog.get_product(session, entry_id)
            return catalog.product_spec(row).as_document() if row else None
        if kind.key == "items":
            item = await catalog.get_item_definition(session, entry_id)
            return None if item is None else {
                "itemId": item.item_id, "displayName": item.display_name,
                "customerType": item.customer_type,
                "lowBalanceThresholds": list(item.low_balance_thresholds or [])}
        lines = {line.product_line_id: line for line in await catalog.list_product_lines(session)}
        line = lines.get(entry_id)
        return None if line is None else {"productLineId": line.product_line_id,
                                          "displayName": line.display_name,
                                          "customerType": line.customer_type}


def _canonical(kind: Kind, spec: Any) -> dict[str, Any]:
    if kind.key == "products":
        return dict(spec.as_document())
    if kind.key == "items":
        return {"itemId": spec.item_id, "displayName": spec.display_name,
                "customerType": spec.customer_type.value,
                "lowBalanceThresholds": list(spec.low_balance_thresholds)}
    return {"productLineId": spec.product_line_id, "displayName": spec.display_name,
            "customerType": spec.customer_type.value}


def _digest(doc: dict[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _values(kind: Kind, doc: dict[str, Any]) -> dict[str, str]:
    if kind.key == "products":
        return catalog_forms.product_values(doc)
    values = {k: str(v) for k, v in doc.items() if not isinstance(v, list)}
    if kind.key == "items":
        values["lowBalanceThresholds"] = ", ".join(map(str, doc.get("lowBalanceThresholds") or []))
    return values


# Pages ----------------------------------------------------------------------------------

async def page(ctx: Ctx) -> Response:
    async with ctx.runtime.db.read_session() as session:
        products = (await session.scalars(catalog.products_statement(include_server_only=True))).all()
        lines = await catalog.list_product_lines(session)
        items = await catalog.list_item_definitions(session)
    return ctx.render("admin/catalog.html", test_mode=(await ctx.runtime.payment_settings()).test_mode,
                      products=products, lines=lines, items=items,
                      amounts_text=catalog_forms.amounts_text,
                      interval_text=catalog_forms.interval_text)


async def _form_page(ctx: Ctx, kind: Kind, state: FormState, *, editing: bool,
                     status: int = 200) -> Response:
    async with ctx.runtime.db.read_session() as session:
        lines = await catalog.list_product_lines(session)
        items = await catalog.list_item_definitions(session)
    return ctx.render("admin/catalog_form.html", status=status,
                      test_mode=(await ctx.runtime.payment_settings()).test_mode, kind=kind,
                      f=state, editing=editing, lines=lines, items=items,
                      price_rows=_row_count(state, "prices"),
                      item_rows=_row_count(state, "includedItems"),
                      overage_rows=_row_count(state, "overage"))


def _row_count(state: FormState, prefix: str) -> int:
    value = state.value(f"rows-{prefix}", "1")
    return max(1, min(int(value) if value.isdigit() else 1, catalog_forms.MAX_ROWS))


async def new_entry(ctx: Ctx) -> Response:
    kind = KINDS[ctx.request.path_params["kind"]]
    values = {"customerType": "USER", "rows-prices": "1", "rows-includedItems": "1",
              "rows-overage": "1"}
    return await _form_page(ctx, kind, FormState(name=kind.key, values=values), editing=False)


async def edit_entry(ctx: Ctx) -> Response:
    kind = KINDS[ctx.request.path_params["kind"]]
    doc = await _stored(ctx, kind, ctx.request.path_params["entry_id"])
    if doc is None:
        return ctx.redirect("/admin/catalog", flash=f"No live {kind.label} of that id.", level="bad")
    return await _form_page(ctx, kind, FormState(name=kind.key, values=_values(kind, doc)),
                            editing=True)


async def submit(ctx: Ctx, form: FormData) -> Response:
    """The form's buttons: another price or item row, or the preview of the change."""
    kind = KINDS.get(forms.text(form, "kind"))
    if kind is None:
        return ctx.redirect("/admin/catalog")
    editing = form.get("editing") == "on"
    state = FormState(name=kind.key, values=forms.typed(form))
    more = forms.text(form, "more")
    if more:  # another row, or back from the preview: the form again, unchecked
        if more in ("prices", "includedItems", "overage"):
            state.values[f"rows-{more}"] = str(_row_count(state, more) + 1)
        return await _form_page(ctx, kind, state, editing=editing)
    try:
        document = kind.document(form)
        spec = kind.parse(document)
        await calls.preview_catalog_entry(ctx.runtime, spec)
    except BillgateError as exc:
        return await _form_page(ctx, kind, _failed(kind, form, exc), editing=editing, status=400)
    return await _preview(ctx, kind, spec, document, form)


def _failed(kind: Kind, form: FormData, exc: BillgateError) -> FormState:
    state = FormState(name=kind.key, values=forms.typed(form))
    errors = exc.errors if isinstance(exc, CatalogErrors) else [exc]
    for error in errors:
        field = catalog_forms.error_field(error.field)
        if field and (field in state.values or field in CHECKBOXES):
            state.errors.setdefault(field, error.message)
        else:
            state.error = error.message
    return state


async def _preview(ctx: Ctx, kind: Kind, spec: Any, document: dict[str, Any], form: FormData,
                   *, notice: str | None = None) -> Response:
    """The differences saving would make; the form carries ``document`` (the catalog-file
    shape, amounts as typed) to be parsed again on save."""
    after = _canonical(kind, spec)
    before = await _stored(ctx, kind, after[kind.id_field])
    return ctx.render("admin/catalog_preview.html",
                      test_mode=(await ctx.runtime.payment_settings()).test_mode, kind=kind,
                      entry_id=after[kind.id_field], creating=before is None,
                      changes=catalog_forms.diff(before, after), document=json.dumps(document),
                      before_digest=_digest(before), typed=forms.typed(form), notice=notice)


async def save(ctx: Ctx, form: FormData) -> Response:
    kind = KINDS.get(forms.text(form, "kind"))
    if kind is None:
        return ctx.redirect("/admin/catalog")
    try:
        document = json.loads(forms.text(form, "document") or "null")
        spec = kind.parse(document)
    except (ValueError, BillgateError):
        return ctx.redirect("/admin/catalog", flash="That preview could not be read; start again.",
                            level="bad")
    entry_id = _canonical(kind, spec)[kind.id_field]
    typed = {k[len("typed-"):]: v for k, v in forms.typed(form).items() if k.startswith("typed-")}
    if _digest(await _stored(ctx, kind, entry_id)) != forms.text(form, "before_digest"):
        return await _preview(ctx, kind, spec, document, _as_form(typed),
                              notice=f"The {kind.label} changed since your preview: here is what "
                                     "saving would change now.")
    try:
        await perform(ctx, kind.mutation, f"{ARCHIVE_KINDS[kind.key]}:{entry_id}",
                      lambda: calls.save_catalog_entry(ctx.runtime, spec))
    except BillgateError as exc:
        return await _form_page(ctx, kind, _failed(kind, _as_form(typed), exc),
                                editing=typed.get("editing") == "on", status=409)
    return ctx.redirect("/admin/catalog", flash=f"Saved {kind.label} {entry_id}.")


def _as_form(values: dict[str, str]) -> FormData:
    return FormData(list(values.items()))


async def archive(ctx: Ctx, form: FormData) -> Response:
    key, entry_id = forms.text(form, "kind"), forms.text(form, "entry_id")
    kind = KINDS.get(key)

    async def work() -> None:
        if kind is None:
            raise InvalidInput("unknown catalog entry kind")
        await calls.archive_catalog_entry(ctx.runtime, ARCHIVE_KINDS[key], entry_id)

    try:
        await perform(ctx, kind.archive_mutation if kind else "archive",
                      f"{ARCHIVE_KINDS.get(key, key)}:{entry_id}", work)
    except BillgateError as exc:
        return ctx.redirect("/admin/catalog", flash=exc.message, level="bad")
    assert kind is not None
    return ctx.redirect("/admin/catalog", flash=f"Archived {kind.label} {entry_id}.")


async def export(ctx: Ctx) -> Response:
    async with ctx.runtime.db.read_session() as session:
        document = await catalog.export_catalog(session)
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return Response(body, media_type="application/yaml", headers={
        "Content-Disposition": 'attachment; filename="catalog.yaml"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    back = lambda form: "/admin/catalog"  # noqa: E731
    kinds = "{kind}"
    return [
        Route("/catalog", page_(page), methods=["GET"]),
        Route("/catalog/export", page_(export), methods=["GET"]),
        Route("/catalog/submit", action(submit, back=back), methods=["POST"]),
        Route("/catalog/save", action(save, back=back), methods=["POST"]),
        Route("/catalog/archive", action(archive, back=back), methods=["POST"]),
        Route(f"/catalog/{kinds}/new", page_(_known(new_entry)), methods=["GET"]),
        Route(f"/catalog/{kinds}/{{entry_id}}", page_(_known(edit_entry)), methods=["GET"]),
    ]


def _known(handler: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    async def checked(ctx: Ctx) -> Response:
        if ctx.request.path_params["kind"] not in KINDS:
            return ctx.redirect("/admin/catalog")
        return await handler(ctx)  # type: ignore[no-any-return]
    return checked
