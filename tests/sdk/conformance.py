"""Auth0's own Python SDK (auth0-python) against the emulator.

Run by scripts/sdk-conformance, which starts a development gateway (and with
it the in-process emulator) and passes the emulator's address. Every call is
one the SDK makes against a real tenant; each must succeed and answer what
Auth0 answers. Exit status 1 when any check fails.

    python conformance.py --domain 127.0.0.1:PORT
"""

import argparse
import base64
import json
import secrets
import sys
import traceback
import urllib.error
import urllib.request

from auth0.authentication import Database, GetToken, RevokeToken, Users
from auth0.authentication.exceptions import Auth0Error
from auth0.management.client import Auth0
from auth0.management.errors import NotFoundError

# the development seed (config/development.toml): public, development only
CLIENT_ID = "authgate-dev"
CLIENT_SECRET = "dev-secret-change-me"
CONNECTION = "Username-Password-Authentication"
API = "https://api.authgate.local"
ADMIN = ("admin@example.com", "Admin-Passw0rd!")

results = []


def check(name):
    """Runs the decorated function at once and records its outcome."""

    def run(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            results.append((name, False))
            print(f"FAIL {name}")
            traceback.print_exc(limit=3)
        else:
            results.append((name, True))
            print(f"ok   {name}")
        return fn

    return run


def claims(jwt):
    """The payload of a JWT, unverified (the gateway's tests verify signatures)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True, help="the emulator, host:port")
    domain = parser.parse_args().domain
    base = f"http://{domain}"
    state = {}

    token = GetToken(domain, CLIENT_ID, client_secret=CLIENT_SECRET, protocol="http")

    # ------------------------------------------------------------ tokens
    @check("token: client credentials for the Management API")
    def _():
        answer = token.client_credentials(audience=f"{base}/api/v2/")
        state["mgmt"] = answer["access_token"]
        scope = claims(answer["access_token"])["scope"].split()
        for needed in ("read:users", "update:users", "delete:users", "read:roles"):
            expect(needed in scope, f"{needed} in {scope}")

    @check("token: password-realm grant with audience and offline_access")
    def _():
        answer = token.login(
            username=ADMIN[0],
            password=ADMIN[1],
            realm=CONNECTION,
            scope="openid profile email offline_access",
            audience=API,
        )
        for key in ("access_token", "id_token", "refresh_token"):
            expect(key in answer, f"{key} in {sorted(answer)}")
        expect(claims(answer["id_token"])["email"] == ADMIN[0], "id_token email")
        state["login"] = answer

    @check('token: refresh with the SDK\'s default scope ""')
    def _():
        first = state["login"]
        answer = token.refresh_token(first["refresh_token"])
        # a later check's tokens, whatever this one finds
        state["refresh"] = answer["refresh_token"]
        state["access"] = answer["access_token"]
        expect(answer["scope"] == first["scope"], f"scope {answer['scope']!r}")
        expect("id_token" in answer, "an id_token, as for the original scope")
        expect(answer["refresh_token"] != first["refresh_token"], "rotated")
        # the rotated token kept the original scope too
        again = token.refresh_token(answer["refresh_token"])
        state["refresh"] = again["refresh_token"]
        state["access"] = again["access_token"]
        expect(again["scope"] == first["scope"], f"scope {again['scope']!r}")

    @check("userinfo")
    def _():
        access = token.login(
            username=ADMIN[0], password=ADMIN[1], realm=CONNECTION, scope="openid profile email"
        )["access_token"]
        profile = Users(domain, protocol="http").userinfo(access)
        expect(profile["email"] == ADMIN[0], f"email {profile.get('email')}")
        expect(profile["sub"].startswith("auth0|"), "sub")

    @check("revoke: the refresh token stops working")
    def _():
        revoke = RevokeToken(domain, CLIENT_ID, client_secret=CLIENT_SECRET, protocol="http")
        revoke.revoke_refresh_token(state["refresh"])
        try:
            token.refresh_token(state["refresh"])
        except Auth0Error as error:
            expect(error.status_code == 403, f"status {error.status_code}")
            expect(error.error_code == "invalid_grant", f"code {error.error_code}")
        else:
            raise AssertionError("a revoked refresh token was exchanged")

    @check("signup")
    def _():
        email = f"sdk-signup-{secrets.token_hex(4)}@example.com"
        answer = Database(domain, CLIENT_ID, protocol="http").signup(
            email=email,
            password="Sdk-Signup-Passw0rd",
            connection=CONNECTION,
            name="Sig Nup",
            user_metadata={"source": "sdk"},
        )
        expect(answer["email"] == email, "email")
        expect(answer["email_verified"] is False, "unverified")
        state["signup"] = (email, f"auth0|{answer['_id']}")

    # ------------------------------------------------------------ management
    mgmt = Auth0(base_url=f"{base}/api/v2", token=lambda: state["mgmt"], max_retries=0)

    @check("users: list (paged, include_totals) and search")
    def _():
        everyone = list(mgmt.users.list(per_page=2))
        emails = [u.email for u in everyone]
        expect(ADMIN[0] in emails and state["signup"][0] in emails, f"{emails}")
        found = list(mgmt.users.list(q=f'email:"{state["signup"][0]}"'))
        expect([u.user_id for u in found] == [state["signup"][1]], "search by email")

    @check("users: create")
    def _():
        email = f"sdk-created-{secrets.token_hex(4)}@example.com"
        user = mgmt.users.create(
            connection=CONNECTION,
            email=email,
            password="Sdk-Created-Passw0rd",
            email_verified=True,
            app_metadata={"invitedBy": "sdk", "drop": True},
        )
        expect(user.email == email, "email")
        state["user"] = user.user_id

    @check("users: get")
    def _():
        user = mgmt.users.get(state["user"])
        expect(user.user_id == state["user"], "user_id")
        expect(user.app_metadata["invitedBy"] == "sdk", f"{user.app_metadata}")

    @check("users: update (PATCH) merges metadata, null removes a key")
    def _():
        user = mgmt.users.update(
            state["user"],
            app_metadata={"drop": None, "expiresAt": 1},
            user_metadata={"lang": "en"},
            name="Updated By SDK",
            blocked=True,
        )
        expect(user.app_metadata == {"invitedBy": "sdk", "expiresAt": 1}, f"{user.app_metadata}")
        expect(user.user_metadata == {"lang": "en"}, f"{user.user_metadata}")
        expect(user.name == "Updated By SDK" and user.blocked is True, "name, blocked")
        mgmt.users.update(state["user"], blocked=False)

    @check("roles: list and permissions")
    def _():
        roles = list(mgmt.roles.list())
        by_name = {r.name: r.id for r in roles}
        expect({"admin", "user"} <= set(by_name), f"{sorted(by_name)}")
        perms = [p.permission_name for p in mgmt.roles.permissions.list(by_name["admin"])]
        expect("create:invitations" in perms, f"{perms}")
        state["roles"] = by_name

    @check("user roles: add, list with include_totals, remove")
    def _():
        roles = state["roles"]
        mgmt.users.roles.assign(state["user"], roles=[roles["admin"], roles["user"]])
        held = sorted(r.name for r in mgmt.users.roles.list(state["user"], per_page=1))
        expect(held == ["admin", "user"], f"{held}")
        mgmt.users.roles.delete(state["user"], roles=[roles["admin"]])
        held = [r.name for r in mgmt.users.roles.list(state["user"])]
        expect(held == ["user"], f"{held}")

    @check("tickets: password change")
    def _():
        ticket = mgmt.tickets.change_password(
            user_id=state["user"],
            result_url="http://127.0.0.1/welcome",
            ttl_sec=3600,
            mark_email_as_verified=True,
        )
        expect(ticket.ticket.startswith(f"{base}/u/reset-password?ticket="), ticket.ticket)
        with urllib.request.urlopen(ticket.ticket, timeout=5) as page:
            expect(page.status == 200, f"ticket page {page.status}")
        state["ticket"] = ticket.ticket

    @check("users: delete (the ticket dies with the user)")
    def _():
        for user_id in (state["user"], state["signup"][1]):
            mgmt.users.delete(user_id)
            try:
                mgmt.users.get(user_id)
            except NotFoundError:
                pass
            else:
                raise AssertionError(f"{user_id} still exists")
        try:
            urllib.request.urlopen(state["ticket"], timeout=5)
        except urllib.error.HTTPError as error:
            expect(error.code == 400, f"ticket page {error.code}")
        else:
            raise AssertionError("the deleted user's ticket still works")

    failed = [name for name, ok in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} SDK checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
