import { useState } from 'react';
import { useApolloClient, useMutation, useQuery } from '@apollo/client/react';
import {
  CANCEL_INVITATION, INVITATIONS, INVITE, LOGIN, LOGOUT, ME, ORDERS, RESEND_INVITATION, SIGNUP,
} from './operations.js';
import { clearSession, setSession } from './session.js';
import { useSession } from './useSession.js';
import { go, useHashRoute } from './useHashRoute.js';
import { describe } from './errors.js';
import { MfaStep } from './Mfa.jsx';

export default function App() {
  const session = useSession();
  const route = useHashRoute();
  if (session.status === 'restoring') {
    return <main data-testid="restoring">Restoring your session…</main>;
  }
  const page =
    route === '/login' ? <Login /> :
    route === '/signup' ? <Signup /> :
    route === '/admin' ? <Admin /> :
    route === '/orders' ? <Orders /> :
    <Me />;
  return (
    <>
      <Nav session={session} />
      <main>{page}</main>
    </>
  );
}

function Nav({ session }) {
  const client = useApolloClient();
  const [logout] = useMutation(LOGOUT);
  const onLogout = async () => {
    try {
      await logout(); // revokes the refresh token (cookie) and the access token
    } catch {
      // the local session ends anyway
    }
    clearSession();
    await client.clearStore();
    go('/login');
  };
  const authed = session.status === 'authenticated';
  return (
    <nav>
      <a href="#/me">Me</a>
      {authed && <a href="#/orders">Orders</a>}
      {authed && session.user?.roles?.includes('admin') && <a href="#/admin">Admin</a>}
      {!authed && <a href="#/login">Log in</a>}
      {!authed && <a href="#/signup">Sign up</a>}
      {authed && <span className="who" data-testid="who">{session.user?.email}</span>}
      {authed && <button data-testid="logout" onClick={onLogout}>Log out</button>}
    </nav>
  );
}

function ErrorText({ error }) {
  const d = describe(error);
  if (!d) return null;
  return (
    <p className="error" role="alert" data-testid="error" data-code={d.code} data-reason={d.reason || ''}>
      {d.message} {d.code && <small>[{d.code}{d.reason ? ` / ${d.reason}` : ''}]</small>}
    </p>
  );
}

function useForm(initial) {
  const [values, setValues] = useState(initial);
  const bind = (name) => ({
    name,
    value: values[name],
    onChange: (e) => setValues((v) => ({ ...v, [name]: e.target.value })),
  });
  return [values, bind];
}

function Login() {
  const client = useApolloClient();
  const [login, { loading }] = useMutation(LOGIN);
  const [error, setError] = useState(null);
  const [values, bind] = useForm({ email: '', password: '' });
  const [mfa, setMfa] = useState(null);
  const onSubmit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const { data } = await login({ variables: { input: values } });
      setSession(data.login);
      await client.resetStore();
      go('/me');
    } catch (err) {
      // a second factor is needed: continue with the sealed MFA session
      const first = err?.errors?.[0]?.extensions;
      if (first?.code === 'MFA_REQUIRED' && first.mfa?.session) setMfa(first.mfa);
      else setError(err);
    }
  };
  if (mfa) return <MfaStep mfa={mfa} onRestart={() => setMfa(null)} />;
  return (
    <div className="card">
      <h1>Log in</h1>
      <form onSubmit={onSubmit} data-testid="login-form">
        <input type="email" placeholder="email" autoComplete="username" required {...bind('email')} />
        <input type="password" placeholder="password" autoComplete="current-password" required {...bind('password')} />
        <button type="submit" disabled={loading}>Log in</button>
      </form>
      <ErrorText error={error} />
    </div>
  );
}

function Signup() {
  const client = useApolloClient();
  const [signup, { loading }] = useMutation(SIGNUP);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [values, bind] = useForm({ email: '', password: '', name: '' });
  const onSubmit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const { data } = await signup({ variables: { input: values } });
      if (data.signup.auth) {
        setSession(data.signup.auth); // the gateway logged the new user in
        await client.resetStore();
        go('/me');
      } else {
        setCreated(data.signup.email); // e.g. e-mail verification required first
      }
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="card">
      <h1>Sign up</h1>
      <form onSubmit={onSubmit} data-testid="signup-form">
        <input type="email" placeholder="email" autoComplete="username" required {...bind('email')} />
        <input type="password" placeholder="password" autoComplete="new-password" required {...bind('password')} />
        <input placeholder="name" {...bind('name')} />
        <button type="submit" disabled={loading}>Create account</button>
      </form>
      {created && <p>Account {created} created: log in.</p>}
      <ErrorText error={error} />
    </div>
  );
}

function Orders() {
  // errorPolicy 'all': a FORBIDDEN field comes back as an error beside the data
  const { data, error, loading } = useQuery(ORDERS, { fetchPolicy: 'network-only', errorPolicy: 'all' });
  if (loading) return <p>Loading…</p>;
  const orders = data?.orders;
  return (
    <div className="card" data-testid="orders-page">
      <h1>Orders</h1>
      <ErrorText error={error} />
      {orders && (
        <ul data-testid="orders">
          {orders.map((o) => (
            <li key={o.id} data-testid="order">
              #{o.id} — {o.status} — {o.total} — {o.customer?.name ?? 'unknown customer'}
            </li>
          ))}
        </ul>
      )}
      {data?.products && (
        <p data-testid="products">Catalog: {data.products.map((p) => p.name).join(', ')}</p>
      )}
    </div>
  );
}

function Me() {
  const session = useSession();
  // An expired access token is refreshed by the link (see apollo.js) and the
  // query retried: this component never sees TOKEN_EXPIRED.
  const { data, error, loading, refetch } = useQuery(ME, { fetchPolicy: 'network-only' });
  if (loading) return <p>Loading…</p>;
  if (error || !data?.me) {
    return (
      <div className="card" data-testid="me-refused">
        <h1>Not signed in</h1>
        <ErrorText error={error} />
        <p><a href="#/login">Log in</a> or <a href="#/signup">sign up</a>.</p>
      </div>
    );
  }
  const me = data.me;
  return (
    <div className="card" data-testid="me">
      <h1>Hello, <span data-testid="me-email">{me.email}</span></h1>
      <dl>
        <dt>Subject</dt><dd><code data-testid="me-id">{me.id}</code></dd>
        <dt>Roles</dt><dd data-testid="me-roles">{me.roles.join(', ') || '—'}</dd>
        <dt>Permissions</dt><dd>{me.permissions.join(', ') || '—'}</dd>
        <dt>Access token expires</dt><dd data-testid="me-expires">{me.expiresAt}</dd>
      </dl>
      <button data-testid="me-refetch" onClick={() => refetch()} disabled={session.status !== 'authenticated'}>
        Ask the gateway again
      </button>
    </div>
  );
}

function Admin() {
  const session = useSession();
  const isAdmin = session.user?.permissions?.includes('create:invitations');
  const [status, setStatus] = useState('PENDING');
  const refetchQueries = [INVITATIONS];
  const [invite, { loading }] = useMutation(INVITE, { refetchQueries });
  const [resend] = useMutation(RESEND_INVITATION, { refetchQueries });
  const [cancel] = useMutation(CANCEL_INVITATION, { refetchQueries });
  const list = useQuery(INVITATIONS, { variables: { status }, skip: !isAdmin, fetchPolicy: 'network-only' });
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const [values, bind] = useForm({ email: '', role: 'user' });
  if (!isAdmin) return <div className="card"><h1>Admin</h1><p>Only administrators can invite.</p></div>;
  // every action shows its error (FORBIDDEN, BAD_USER_INPUT, RATE_LIMITED…) the same way
  const run = async (action) => {
    setError(null);
    setResult(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    }
  };
  const onSubmit = (e) => {
    e.preventDefault();
    run(async () => {
      const { data } = await invite({ variables: { input: { email: values.email, roles: [values.role] } } });
      setResult(data.inviteUser);
    });
  };
  const onResend = (email) => run(async () => {
    const { data } = await resend({ variables: { email } });
    setResult(data.resendInvitation);
  });
  const onCancel = (email) => run(() => cancel({ variables: { email } }));
  return (
    <div className="card">
      <h1>Invite a user</h1>
      <form onSubmit={onSubmit} data-testid="invite-form">
        <input type="email" placeholder="email" required {...bind('email')} />
        <select {...bind('role')}>
          <option value="user">user</option>
          <option value="admin">admin</option>
        </select>
        <button type="submit" disabled={loading}>Invite</button>
      </form>
      <ErrorText error={error} />
      {result && (
        <div data-testid="invitation">
          <p>
            {result.resent ? 'A fresh link for' : 'Invited'} <b data-testid="invited-email">{result.email}</b> as{' '}
            {result.roles.join(', ')}. Send them this link (it is a credential; it expires {result.expiresAt}):
          </p>
          {result.ticketUrl ? (
            <a data-testid="ticket-url" href={result.ticketUrl}>{result.ticketUrl}</a>
          ) : (
            <p>The gateway e-mailed the link.</p>
          )}
        </div>
      )}
      <h2>Invitations</h2>
      <select data-testid="invitation-status" value={status} onChange={(e) => setStatus(e.target.value)}>
        <option value="PENDING">pending</option>
        <option value="EXPIRED">expired</option>
        <option value="ACCEPTED">accepted</option>
        <option value="ALL">all</option>
      </select>
      <ErrorText error={list.error} />
      <table data-testid="pending">
        <thead>
          <tr><th>E-mail</th><th>Status</th><th>Roles</th><th>Invited by</th><th>Invited</th><th>Link expires</th><th /></tr>
        </thead>
        <tbody>
          {list.data?.invitations.items.map((i) => (
            <tr key={i.userId} data-testid="invitation-row" data-email={i.email} data-status={i.status}>
              <td>{i.email}</td>
              <td>{i.status.toLowerCase()}</td>
              <td>{i.roles.join(', ')}</td>
              <td>{i.invitedBy ? i.invitedBy.email || i.invitedBy.sub : '—'}</td>
              <td>{i.invitedAt ?? '—'}</td>
              <td>{i.expiresAt ?? '—'}</td>
              <td>
                {i.status !== 'ACCEPTED' && (
                  <>
                    <button data-testid="resend" onClick={() => onResend(i.email)}>Resend</button>{' '}
                    <button data-testid="cancel" onClick={() => onCancel(i.email)}>Cancel</button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && <p><small data-testid="invitation-total">{list.data.invitations.total} in total</small></p>}
    </div>
  );
}
