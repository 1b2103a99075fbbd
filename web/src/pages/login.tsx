import { useSignal } from '@preact/signals';
import { Link, location, navigate } from '../app/router';
import { login } from '../app/session';
import { errorMessage } from '../app/toasts';
import { AuthLayout, nextPath } from './auth-layout';

export function LoginPage() {
  const search = location.value.search;
  const params = new URLSearchParams(search);
  const email = useSignal(params.get('email') ?? '');
  const password = useSignal('');
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const signupHref = `/signup${search}`;
  return (
    <AuthLayout title="Log in">
      <form
        class="stack"
        data-testid="login-form"
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = null;
          try {
            await login(email.value.trim(), password.value);
            navigate(nextPath(search), { replace: true });
          } catch (err) {
            error.value = errorMessage(err);
          } finally {
            busy.value = false;
          }
        }}
      >
        <label class="field">
          <span>Email</span>
          <input type="email" autoComplete="email" required autoFocus value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} data-testid="login-email" />
        </label>
        <label class="field">
          <span>Password</span>
          <input type="password" autoComplete="current-password" required value={password.value} onInput={(e) => (password.value = e.currentTarget.value)} data-testid="login-password" />
        </label>
        {error.value && (
          <p class="form-error" role="alert" data-testid="login-error">
            {error.value}
          </p>
        )}
        <button type="submit" class="button button-primary button-block" disabled={busy.value} data-testid="login-submit">
          {busy.value ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p class="muted auth-switch">
        New to Tandem? <Link href={signupHref}>Create an account</Link>
      </p>
    </AuthLayout>
  );
}
