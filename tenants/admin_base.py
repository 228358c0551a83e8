"""The one tenant-scoped admin base: every admin of tenant-owned rows inherits it.

Access comes from tenant memberships, not Django's ``auth`` permissions (DESIGN.md §2: RevOps
editors are staff users without model permissions):

- superusers see and change every tenant's rows;
- other active staff users see the rows of the tenants they are members of (``view_roles``),
  add and change them where their role is in ``change_roles`` (default owner/admin/editor),
  delete them where their role is in ``delete_roles`` (default: superusers only);
- another tenant's row is a 404 (:class:`~django.http.Http404`), never the admin's "does not
  exist" redirect, so it cannot be told from a missing one;
- the ``tenant`` field of add forms offers only the tenants where the user may add, and is
  preselected when there is one;
- the object pages (change, delete, history) run inside ``tenant_context(obj.tenant)``, and the
  other pages inside the user's tenant when they are a member of exactly one, so services and
  inlines use the scoped manager (``Model.objects``) like any other entry point.

Memberships are read once per request (:func:`member_roles`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.template.response import SimpleTemplateResponse

from tenants.context import current_tenant_or_none, tenant_context
from tenants.models import ROLES_THAT_EDIT, Membership, Role, Tenant, TenantOwnedModel

ALL_ROLES: frozenset[str] = frozenset(Role.values)
ROLES_THAT_CONFIGURE: frozenset[str] = frozenset({Role.OWNER, Role.ADMIN})
_CACHE_ATTR = "_tenant_member_roles"


def member_roles(request: HttpRequest) -> dict[int, str]:
    """``{tenant id: role}`` of the request's user: empty unless the user is authenticated,
    active and staff (the admin's own precondition). Read once per request."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        user = request.user
        cached = {}
        if user.is_authenticated and user.is_active and user.is_staff:
            cached = dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
        setattr(request, _CACHE_ATTR, cached)
    return cached


def member_tenant_ids(request: HttpRequest, roles: Collection[str] | None = None) -> set[int]:
    """Ids of the tenants where the user's role is in ``roles`` (None: any role)."""
    return {tenant_id for tenant_id, role in member_roles(request).items() if roles is None or role in roles}


def tenant_rows(request: HttpRequest, model: type[TenantOwnedModel], roles: Collection[str] | None = None) -> QuerySet:
    """Rows of tenant-owned ``model`` the user may see in the admin: every tenant's for superusers,
    else those of the tenants where the user's role is in ``roles`` (None: any role). Used for the
    admin's own rows and for choices of another tenant-owned model (a form's foreign key)."""
    if request.user.is_superuser:
        return model.objects.unscoped()  # superusers administer every tenant
    return model.objects.for_tenants(member_tenant_ids(request, roles))


def tenant_choices(request: HttpRequest, roles: Collection[str] | None = None) -> QuerySet[Tenant]:
    """Tenants (by slug) a form may offer: all for superusers, else those where the user's role
    is in ``roles`` (None: any role)."""
    tenants = Tenant.objects.order_by("slug")
    return tenants if request.user.is_superuser else tenants.filter(pk__in=member_tenant_ids(request, roles))


class TenantScopedAdmin(admin.ModelAdmin):
    """Admin of a tenant-owned model, scoped by the user's memberships (see the module doc).

    Class attributes (sets of :class:`~tenants.models.Role` values; an empty set means
    superusers only): ``view_roles`` (default every role), ``change_roles`` (owner, admin,
    editor), ``add_roles`` (default: ``change_roles``), ``delete_roles`` (default empty).
    """

    view_roles: Collection[str] = ALL_ROLES
    change_roles: Collection[str] = ROLES_THAT_EDIT
    add_roles: Collection[str] | None = None
    delete_roles: Collection[str] = frozenset()

    # --- who may do what --------------------------------------------------------------------

    def tenant_allows(self, request: HttpRequest, roles: Collection[str], obj=None) -> bool:
        """Whether the user may act on ``obj`` (its tenant) or, without ``obj``, on some tenant,
        given the ``roles`` that allow it. Superusers always may."""
        if request.user.is_superuser:
            return True
        ids = member_tenant_ids(request, roles)
        return obj.tenant_id in ids if obj is not None else bool(ids)

    def has_module_permission(self, request) -> bool:
        return self.tenant_allows(request, self.view_roles)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.tenant_allows(request, self.view_roles, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.tenant_allows(request, self.change_roles, obj)

    def has_add_permission(self, request) -> bool:
        return self.tenant_allows(request, self.change_roles if self.add_roles is None else self.add_roles)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.tenant_allows(request, self.delete_roles, obj)

    # --- which rows -------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = tenant_rows(request, self.model, self.view_roles)
        ordering = self.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return queryset.select_related("tenant")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No such {self.model._meta.verbose_name}.")
        return obj

    # --- the tenant field of add forms -----------------------------------------------------------

    def tenant_choices(self, request: HttpRequest) -> QuerySet[Tenant]:
        """The tenants the user may add rows to (the add form's choices)."""
        return tenant_choices(request, self.change_roles if self.add_roles is None else self.add_roles)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant" and "queryset" not in kwargs:
            kwargs["queryset"] = self.tenant_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if "tenant" not in initial and not request.user.is_superuser:
            ids = member_tenant_ids(request, self.change_roles if self.add_roles is None else self.add_roles)
            if len(ids) == 1:
                initial["tenant"] = next(iter(ids))  # the user's only tenant, preselected
        return initial

    # --- the tenant context of each page ---------------------------------------------------------

    @contextlib.contextmanager
    def tenant_scope(self, request: HttpRequest, obj=None) -> Iterator[Tenant | None]:
        """Run a block inside ``tenant_context(obj.tenant)``; without ``obj``, inside the user's
        tenant when they are a member of exactly one (superusers: none). Yields that tenant."""
        tenant = obj.tenant if obj is not None else None
        if tenant is None and not request.user.is_superuser:
            ids = member_tenant_ids(request, self.view_roles)
            if len(ids) == 1:
                tenant = Tenant.objects.filter(pk=next(iter(ids))).first()
        if tenant is None:
            yield None
            return
        with tenant_context(tenant):
            yield tenant

    def _scoped(self, request, object_id, view, *args, **kwargs):
        obj = self.get_object(request, unquote(object_id)) if object_id else None  # 404 outside the user's tenants
        with self.tenant_scope(request, obj):
            response = view(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                response.render()  # lazy template queries run under the same tenant
            return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._scoped(request, object_id, super().changeform_view, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        return self._scoped(request, None, super().changelist_view, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._scoped(request, object_id, super().delete_view, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        return self._scoped(request, object_id, super().history_view, object_id, extra_context)


class TenantScopedInline(admin.TabularInline):
    """A read-only inline of tenant-owned rows under a :class:`TenantScopedAdmin` page (an audit
    trail, a list of secrets): shown only inside a parent the user may view, read through the
    scoped manager under the parent page's tenant context."""

    extra = 0
    can_delete = False

    def get_queryset(self, request):
        if current_tenant_or_none() is None:  # an add page of a user with several tenants: no rows yet
            return self.model._default_manager.none()
        queryset = self.model.objects.all()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # shown only inside a parent the user may view

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
