import { useEffect, useState } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import QRCode from 'qrcode';
import { MFA_ENROLL, MFA_VERIFY } from './operations.js';
import { setSession } from './session.js';
import { describe } from './errors.js';
import { go } from './useHashRoute.js';

// The second factor of a login. `mfa` is MFA_REQUIRED's extensions.mfa: an opaque
// session handle (authgate keeps Auth0's mfa_token sealed in it), the user's
// authenticators, and whether an authenticator must be enrolled first.
export function MfaStep({ mfa, onRestart }) {
  const client = useApolloClient();
  const [session, setHandle] = useState(mfa.session);
  const [enrolment, setEnrolment] = useState(null);
  const [qr, setQr] = useState(null);
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState('');
  const [newRecovery, setNewRecovery] = useState(null);
  const [error, setError] = useState(null);
  const [verify, { loading }] = useMutation(MFA_VERIFY);
  const [enroll, { loading: enrolling }] = useMutation(MFA_ENROLL);

  useEffect(() => {
    if (enrolment?.otpauthUri) QRCode.toDataURL(enrolment.otpauthUri).then(setQr, () => setQr(null));
  }, [enrolment]);

  const startEnrolment = async () => {
    setError(null);
    try {
      const { data } = await enroll({ variables: { input: { session, factor: 'OTP' } } });
      setEnrolment(data.mfaEnroll);
      setHandle(data.mfaEnroll.session);
    } catch (err) {
      setError(err);
    }
  };

  const onSubmit = async (e) => {
    e.preventDefault();
    setError(null);
    const input = useRecovery ? { session, recoveryCode: code } : { session, otp: code };
    try {
      const { data } = await verify({ variables: { input } });
      setSession(data.mfaVerify);
      await client.resetStore();
      if (data.mfaVerify.recoveryCode) setNewRecovery(data.mfaVerify.recoveryCode);
      else go('/me');
    } catch (err) {
      const d = describe(err);
      if (d?.code === 'MFA_SESSION_EXPIRED') onRestart();
      setError(err);
    }
  };

  if (newRecovery) {
    return (
      <div className="card">
        <h1>Your new recovery code</h1>
        <p>The one you used is spent. Keep this one somewhere safe:</p>
        <pre data-testid="mfa-new-recovery">{newRecovery}</pre>
        <button onClick={() => go('/me')}>Continue</button>
      </div>
    );
  }

  const needsEnrolment = mfa.enrollmentRequired && !enrolment;
  return (
    <div className="card" data-testid="mfa-step">
      <h1>Second factor</h1>
      {needsEnrolment ? (
        <>
          <p>Your account needs an authenticator app.</p>
          <button onClick={startEnrolment} disabled={enrolling} data-testid="mfa-enroll">Set up an authenticator app</button>
        </>
      ) : (
        <>
          {enrolment && (
            <div data-testid="mfa-enrolment">
              <p>Scan this QR code with your authenticator app, or type the key.</p>
              {qr && <img src={qr} alt="QR code for your authenticator app" width="200" height="200" />}
              <pre>{enrolment.secret}</pre>
              {enrolment.recoveryCodes.length > 0 && (
                <p>Recovery code (shown once): <code>{enrolment.recoveryCodes.join(' ')}</code></p>
              )}
            </div>
          )}
          <form onSubmit={onSubmit} data-testid="mfa-form">
            <input
              placeholder={useRecovery ? 'recovery code' : '6-digit code'}
              autoComplete="one-time-code"
              inputMode={useRecovery ? 'text' : 'numeric'}
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
              data-testid="mfa-code"
            />
            <button type="submit" disabled={loading}>Verify</button>
          </form>
          {!enrolment && (
            <button className="link" onClick={() => { setUseRecovery(!useRecovery); setCode(''); }}>
              {useRecovery ? 'Use my authenticator app' : 'Use a recovery code'}
            </button>
          )}
        </>
      )}
      <ErrorLine error={error} />
    </div>
  );
}

function ErrorLine({ error }) {
  const d = describe(error);
  if (!d) return null;
  return <p className="error" data-testid="mfa-error">{d.code}: {d.message}</p>;
}
