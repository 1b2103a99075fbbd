import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';

/**
 * Markdown as people write it in descriptions and comments, made safe to show: markdown-it
 * with raw HTML off turns any tag into text and refuses `javascript:` links, and DOMPurify
 * then strips whatever could still run from the HTML it made (a second lock on the door).
 */
const md = new MarkdownIt({ html: false, linkify: true, breaks: true });

// Links open in a new tab and give the opened page no handle on this one.
const renderLink = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('target', '_blank');
  tokens[idx].attrSet('rel', 'noopener noreferrer nofollow');
  return renderLink(tokens, idx, options, env, self);
};

/** The HTML markdown-it makes, before sanitizing. */
export function markdownHtml(text: string): string {
  return md.render(text);
}

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(markdownHtml(text), { USE_PROFILES: { html: true }, ADD_ATTR: ['target'] });
}
