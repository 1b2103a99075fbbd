import { useSignal } from '@preact/signals';
import { Link, location, navigate } from '../app/router';
import { signup } from '../app/session';
import { errorMessage } from '../app/toasts';
import { AuthLayout, nextPath } from './auth-layout';

export function SignupPage() {
  const search = location.value.search;
  const params = new URLSearchParams(search);
  const name = useSignal('');
  const email = useSignal(params.get('email') ?? '');
  const password = useSignal('');
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  return (
    <AuthLayout title="Create your account">
      <form
        class="stack"
        data-testid="signup-form"
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = null;
          try {
            await signup(name.value.trim(), email.value.trim(), password.value);
            navigate(nextPath(search), { replace: true });
          } catch (err) {
            error.value = errorMessage(err);
          } finally {
            busy.value = false;
          }
        }}
      >
        <label class="field">
          <span>Name</span>
          <input autoComplete="name" required maxLength={100} autoFocus value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} data-testid="signup-name" />
        </label>
        <label class="field">
          <span>Email</span>
          <input type="email" autoComplete="email" required value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} data-testid="signup-email" />
        </label>
        <label class="field">
          <span>Password</span>
          <input type="password" autoComplete="new-password" required minLength={8} maxLength={128} value={password.value} onInput={(e) => (password.value = e.currentTarget.value)} data-testid="signup-password" />
          <small class="muted">At least 8 characters.</small>
        </label>
        {error.value && (
          <p class="form-error" role="alert" data-testid="signup-error">
            {error.value}
          </p>
        )}
        <button type="submit" class="button button-primary button-block" disabled={busy.value} data-testid="signup-submit">
          {busy.value ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <p class="muted auth-switch">
        Already have an account? <Link href={`/login${search}`}>Log in</Link>
      </p>
    </AuthLayout>
  );
}
