/**
 * Escaping for text put into HTML or XML (the report page, JUnit files): the
 * five characters that could end an element or an attribute value.
 */
const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

/** HTML text and attribute values need exactly what XML needs. */
export const escapeHtml = escapeXml;
