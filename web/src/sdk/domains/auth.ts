import type { components } from '../api.gen';
import type { Rest } from '../rest';

type Schemas = components['schemas'];

/** POST /api/auth/login: the token pair of a new login. */
export function login(api: Rest, email: string, password: string): Promise<Schemas['AuthOut']> {
  return api.post('/api/auth/login', { body: { email, password }, auth: false });
}

/** POST /api/auth/signup: a new account, signed in. */
export function signup(api: Rest, name: string, email: string, password: string): Promise<Schemas['AuthOut']> {
  return api.post('/api/auth/signup', { body: { name, email, password }, auth: false });
}

/** POST /api/auth/logout: the refresh token stops working and the login's sockets close. */
export function logout(api: Rest, refreshToken: string): Promise<void> {
  return api.post('/api/auth/logout', { body: { refreshToken }, auth: false });
}

/** GET /api/me: who is signed in, and their organizations. */
export function me(api: Rest): Promise<Schemas['MeOut']> {
  return api.get('/api/me');
}

/** GET /api/invites/{token}: what an invite link offers; needs no login. */
export async function inviteInfo(api: Rest, token: string): Promise<Schemas['InviteInfo']> {
  const res = await api.get('/api/invites/{token}', { path: { token }, auth: false });
  return res.invite;
}

/** POST /api/invites/{token}/accept: the signed-in person joins the invite's organization. */
export async function acceptInvite(api: Rest, token: string): Promise<Schemas['MembershipOut']> {
  const res = await api.post('/api/invites/{token}/accept', { path: { token } });
  return res.membership;
}
