import { useState, type ReactNode } from 'react';
import { Alert, Button, Checkbox, Code, CopyButton, Group, List, Stack, Text } from '@mantine/core';
import '../account.css';
import { downloadRecoveryCodes } from './recovery-codes-file';

/**
 * Recovery codes, shown once: a warning that they will not be shown again, the codes, Download (.txt)
 * and Copy, and a confirmation that they were saved before the person moves on.
 */
export function RecoveryCodesPanel({
  codes,
  email,
  title,
  children,
}: {
  readonly codes: readonly string[];
  readonly email: string;
  readonly title: string;
  /** What comes after: the button that leaves this screen (enabled once the codes are saved). */
  readonly children: (saved: boolean) => ReactNode;
}) {
  const [saved, setSaved] = useState(false);
  const text = codes.join('\n');
  return (
    <Stack gap="md">
      <Alert color="yellow" title={title} role="status">
        <Text size="sm">
          Save these recovery codes now: <strong>they will not be shown again</strong>. Each one signs you in
          once if you lose your authenticator app. Keep them somewhere safe, like a password manager.
        </Text>
      </Alert>
      <List listStyleType="none" aria-label="Recovery codes" className="recovery-codes">
        {codes.map((c) => (
          <List.Item key={c}>
            <Code fz="sm">{c}</Code>
          </List.Item>
        ))}
      </List>
      <Group gap="sm">
        <Button variant="default" onClick={() => downloadRecoveryCodes(codes, email)}>
          Download codes (.txt)
        </Button>
        <CopyButton value={text}>
          {({ copied, copy }) => (
            <Button variant="default" onClick={copy} aria-live="polite">
              {copied ? 'Copied' : 'Copy codes'}
            </Button>
          )}
        </CopyButton>
      </Group>
      <Checkbox
        label="I have saved my recovery codes"
        checked={saved}
        onChange={(e) => setSaved(e.currentTarget.checked)}
      />
      {children(saved)}
    </Stack>
  );
}
