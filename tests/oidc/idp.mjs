// A real OpenID Connect provider (oidc-provider, OpenID certified) for the test suite.
//
//   IDP_PORT=9000 IDP_CLIENT_ID=agora-hub IDP_CLIENT_SECRET=s \
//   IDP_REDIRECT_URIS=http://127.0.0.1:8001/oidc/callback/ node tests/oidc/idp.mjs
//
// It plays the part Keycloak plays in production: one confidential client (the hub),
// the authorization-code flow, RS256-signed ID tokens, and a `groups` claim in both the
// ID token and the userinfo answer. People sign in with a plain HTML form that checks a
// password, so the flow can be driven by any HTTP client without a browser. Consent is
// implied for the hub, as for a first-party client in Keycloak.
//
// For tests only, POST /test/accounts/<username> with {"groups": [...]} (HTTP Basic
// with the client's id and secret) replaces an account's groups, the way an
// administrator would move someone between Keycloak groups; the answer carries the
// previous groups so a test can put them back.

import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] || fallback;
  if (value === undefined) {
    console.error(`idp: ${name} is required`);
    process.exit(2);
  }
  return value;
};
const list = (value) => value.split(/[\s,]+/).filter(Boolean);

const port = Number(env('IDP_PORT'));
const clientId = env('IDP_CLIENT_ID');
const clientSecret = env('IDP_CLIENT_SECRET');
const redirectUris = list(env('IDP_REDIRECT_URIS'));
const postLogoutRedirectUris = list(env('IDP_POST_LOGOUT_REDIRECT_URIS', ''));
const issuer = `http://127.0.0.1:${port}`;

// The fixed test people. Passwords are "<username>-password"; groups follow the hub's
// default names (settings.OIDC_GROUP_*), some as Keycloak-style paths.
const person = (sub, username, givenName, familyName, groups) => ({
  sub,
  username,
  password: `${username}-password`,
  email: `${username}@idp.example.org`,
  givenName,
  familyName,
  groups,
});
const accounts = new Map(
  [
    person('0b7d6d1c-provider-a', 'oidc-provider-a', 'Paula', 'Provider', ['PROVIDER-hospital-a']),
    person('5e1f3a90-researcher', 'oidc-researcher', 'Rosa', 'Researcher', [
      'RESEARCHER',
      'PROJECT-LUNG1',
    ]),
    person('9c2e4b77-admin', 'oidc-admin', 'Adam', 'Admin', ['HUB-ADMIN']),
    person('d3a8f615-committee', 'oidc-committee', 'Carla', 'Committee', [
      '/COMMITTEE-hospital-a',
      '/PROVIDER-no-such-hospital',
      '/staff/radiology',
    ]),
  ].map((p) => [p.username, p]),
);
const bySub = (sub) => [...accounts.values()].find((p) => p.sub === sub);

const digest = (value) => createHash('sha256').update(String(value)).digest();
const sameSecret = (given, expected) => timingSafeEqual(digest(given), digest(expected));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // mozilla-django-oidc sends the secret in the form body by default.
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  scopes: ['openid', 'email', 'profile'],
  claims: {
    // Like a Keycloak group mapper: groups travel with every sign-in, whatever the scope.
    openid: ['sub', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'given_name', 'family_name', 'name'],
  },
  // Put the scope's claims in the ID token too, not only in userinfo (as Keycloak does).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  clientBasedCORS: () => false,
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
  async findAccount(ctx, sub) {
    const p = bySub(sub);
    if (!p) return undefined;
    return {
      accountId: p.sub,
      async claims() {
        return {
          sub: p.sub,
          preferred_username: p.username,
          email: p.email,
          email_verified: true,
          given_name: p.givenName,
          family_name: p.familyName,
          name: `${p.givenName} ${p.familyName}`,
          groups: [...p.groups],
        };
      },
    };
  },
  // Consent is implied for the hub: grant the requested OpenID scopes on first use.
  async loadExistingGrant(ctx) {
    const { provider, session, client } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) {
      const existing = await provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
const oidc = provider.callback();

const escape = (value) =>
  String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, { username = '', error = '' } = {}) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider: sign in</title></head>
<body>
<h1>Sign in</h1>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>Username <input name="username" value="${escape(username)}" required autofocus></label>
  <label>Password <input name="password" type="password" required></label>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Cancel</button></form>
</body></html>`;
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    send(res, 400, '<p>This sign-in request has expired or is unknown. Start again.</p>');
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, '<p>This sign-in request does not match your session. Start again.</p>');
    return;
  }
  if (details.prompt.name !== 'login') {
    // Consent never needs asking (see loadExistingGrant); anything else is unsupported.
    send(res, 501, `<p>Prompt ${escape(details.prompt.name)} is not supported here.</p>`);
    return;
  }
  if (action === undefined && req.method === 'GET') {
    send(res, 200, loginPage(uid));
    return;
  }
  if (action === 'abort' && req.method === 'POST') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (action === 'login' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') ?? '';
    const p = accounts.get(username);
    // Compare even for unknown names so both failures take the same time.
    const expected = p ? p.password : randomBytes(16).toString('hex');
    const passwordOk = sameSecret(form.get('password') ?? '', expected);
    if (!p || !passwordOk) {
      console.log('idp: sign-in refused');
      send(res, 401, loginPage(uid, { username, error: 'Invalid username or password.' }));
      return;
    }
    console.log('idp: sign-in accepted');
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: p.sub } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  send(res, 405, '<p>Method not allowed.</p>');
}

async function setGroups(req, res, username) {
  const expected = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  if (req.method !== 'POST' || !sameSecret(req.headers.authorization ?? '', expected)) {
    send(res, 401, '{"error":"unauthorized"}', 'application/json');
    return;
  }
  const p = accounts.get(username);
  if (!p) {
    send(res, 404, '{"error":"no such account"}', 'application/json');
    return;
  }
  let groups;
  try {
    ({ groups } = JSON.parse(await readBody(req)));
  } catch {
    groups = undefined;
  }
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
    send(res, 400, '{"error":"expected {\\"groups\\": [strings]}"}', 'application/json');
    return;
  }
  const previous = p.groups;
  p.groups = groups;
  send(res, 200, JSON.stringify({ username, groups, previous }), 'application/json');
}

const server = http.createServer(async (req, res) => {
  try {
    const { pathname } = new URL(req.url, issuer);
    const step = pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|abort))?\/?$/);
    if (step) {
      await interaction(req, res, step[1], step[2]);
      return;
    }
    const control = pathname.match(/^\/test\/accounts\/([\w.@-]+)$/);
    if (control) {
      await setGroups(req, res, control[1]);
      return;
    }
    oidc(req, res);
  } catch (err) {
    console.error('idp: request failed', err);
    if (!res.headersSent) send(res, err.status ?? 500, '<p>Internal error.</p>');
    else res.end();
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`idp: listening at ${issuer} for client ${clientId}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    process.exit(0);
  });
}
