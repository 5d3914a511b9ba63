/** The text of the recovery-codes file: what they are, for which account, then one code a line. */
export function recoveryCodesText(codes: readonly string[], email: string, at = new Date()): string {
  return [
    `SaaSReady recovery codes for ${email}`,
    `Generated ${at.toISOString()}`,
    '',
    'Each code signs you in once when you cannot use your authenticator app.',
    'Keep them somewhere safe; generating new codes makes these stop working.',
    '',
    ...codes,
    '',
  ].join('\n');
}

/**
 * Saves the codes as a .txt file: a Blob behind an object URL, clicked as a download link, then
 * released. Nothing is stored by the console; the file is the person's own copy.
 */
export function downloadRecoveryCodes(codes: readonly string[], email: string): void {
  const blob = new Blob([recoveryCodesText(codes, email)], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = 'saasready-recovery-codes.txt';
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started from the click; release the object URL once it has been read.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
