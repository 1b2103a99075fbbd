// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { markdownHtml, renderMarkdown } from './markdown';

// happy-dom's parser drops a document's first element, so the sanitized HTML is checked for what
// it must not hold; the browser tests check what it shows.
describe('markdown rendering', () => {
  it('renders the usual Markdown', () => {
    const html = markdownHtml('# Plan\n\n- **bold** item\n- `code`\n\n[docs](https://example.com)');
    expect(html).toContain('<h1>Plan</h1>');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<code>code</code>');
    expect(html).toContain('href="https://example.com"');
    expect(html).toContain('rel="noopener noreferrer nofollow"');
  });

  it('shows raw HTML as text and leaves nothing that could run', () => {
    const attacks = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '[click](javascript:alert(1))',
      '[click](JAVASCRIPT:alert(1))',
      '![x](javascript:alert(1))',
      '<svg onload=alert(1)>',
      '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    ];
    for (const attack of attacks) {
      const host = document.createElement('div');
      host.innerHTML = renderMarkdown(attack);
      expect(host.querySelector('script, svg, iframe, [onerror], [onload]'), attack).toBeNull();
      for (const el of host.querySelectorAll('[href], [src]')) {
        const url = (el.getAttribute('href') ?? el.getAttribute('src') ?? '').toLowerCase();
        expect(url.startsWith('javascript:') || url.startsWith('data:'), attack).toBe(false);
      }
    }
    expect(markdownHtml('<script>alert(1)</script>')).toContain('&lt;script&gt;');
    expect(markdownHtml('[click](javascript:alert(1))')).not.toContain('href');
  });
});
