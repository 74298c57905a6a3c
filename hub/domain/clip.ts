// Text from outside, or built from it, cut to fit where it goes (a chat card, a refusal's detail,
// a kept record): an ellipsis marks the cut, and a character made of two UTF-16 units (an emoji)
// is never split, which would leave half of it to a log or a JSON answer.

/** `text`, at most `max` characters long. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
