import { useState } from 'preact/hooks';
import { cleanToken } from '../model/session';

/** Paste a token (as Tiledesk hands it out, with or without `JWT `); it stays in this browser tab only. */
export function SignIn(props: { message: string | null; onToken(token: string): void }) {
  const [value, setValue] = useState('');
  return (
    <main class="sign-in">
      <h1>Realtime dashboard</h1>
      {props.message !== null && (
        <p class="notice bad" role="alert" data-testid="sign-in-message">
          {props.message}
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const token = cleanToken(value);
          if (token !== '') props.onToken(token);
        }}
      >
        <label for="token">Your token</label>
        <textarea
          id="token"
          name="token"
          rows={4}
          autocomplete="off"
          spellcheck={false}
          placeholder="JWT eyJhbGciOi…"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <button type="submit">Sign in</button>
      </form>
      <p class="muted small">
        Or open <code>/dashboard#token=&lt;jwt&gt;&amp;project=&lt;project id&gt;</code>. The token is kept in this tab only and sent to
        this service only.
      </p>
    </main>
  );
}
