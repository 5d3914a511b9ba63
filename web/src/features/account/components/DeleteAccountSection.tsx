import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Group, List, Modal, PasswordInput, Stack, Text } from '@mantine/core';
import { Link } from 'react-router';
import { isApiError } from '../../../api/errors';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useEraseAccount } from '../api/eraseAccount';
import { AccountSection } from './AccountSection';
import { CODE_FIELD_ERRORS, CodeField } from './CodeField';

const FIELD_OF_CODE = {
  AUTH_PASSWORD_INCORRECT: 'password',
  ACCOUNT_SECOND_FACTOR_REQUIRED: 'code',
  ...CODE_FIELD_ERRORS,
};

interface Blocking {
  id: string;
  slug: string;
  name: string;
}

/** The organizations a `ACCOUNT_LAST_OWNER` refusal names. */
function blockingOf(error: unknown): Blocking[] {
  if (!isApiError(error) || error.code !== 'ACCOUNT_LAST_OWNER') return [];
  const orgs = error.details.organizations;
  return Array.isArray(orgs) ? (orgs as Blocking[]) : [];
}

/** "Delete my account": what it does, then a dialog asking for the password (and a code with 2FA on). */
export function DeleteAccountSection({ twoFactorEnabled }: { readonly twoFactorEnabled: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <AccountSection
      id="delete-account"
      title="Delete my account"
      description="Erases your account for good: it cannot be undone."
    >
      <Text size="sm">
        You leave every organization, your sessions and the API keys you created stop working, and your name
        and email address are removed. Organizations where you are the only member are closed and scheduled
        for deletion. In audit logs your actions stay, without your IP address and browser.
      </Text>
      <Button color="red" onClick={() => setOpen(true)} style={{ alignSelf: 'flex-start' }}>
        Delete my account
      </Button>
      <DeleteAccountModal open={open} onClose={() => setOpen(false)} twoFactorEnabled={twoFactorEnabled} />
    </AccountSection>
  );
}

function DeleteAccountModal({
  open,
  onClose,
  twoFactorEnabled,
}: {
  readonly open: boolean;
  readonly onClose: () => void;
  readonly twoFactorEnabled: boolean;
}) {
  const erase = useEraseAccount();
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const errors = fieldErrorsOf(erase.error, FIELD_OF_CODE);
  const blocking = blockingOf(erase.error);
  const close = () => {
    erase.reset();
    setPassword('');
    setCode('');
    onClose();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    erase.mutate(twoFactorEnabled ? { password, code: code.trim() } : { password });
  };
  return (
    <Modal opened={open} onClose={close} title="Delete my account">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Text size="sm">Confirm who you are. Once deleted, your account cannot be restored.</Text>
          {blocking.length > 0 ? (
            <Alert color="orange" role="alert" title="Your account was not deleted">
              <Text size="sm">
                You are the only owner of these organizations, which have other members. Transfer ownership to
                another member (Members page) or delete the organization first:
              </Text>
              <List size="sm" mt={4}>
                {blocking.map((o) => (
                  <List.Item key={o.id}>
                    <Anchor
                      component={Link}
                      to={`/o/${o.slug}/members`}
                      onClick={close}
                      c="inherit"
                      underline="always"
                    >
                      {o.name}
                    </Anchor>
                  </List.Item>
                ))}
              </List>
            </Alert>
          ) : (
            <FormError error={erase.error} fields={['password', 'code']} fieldErrors={errors} />
          )}
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            required
            data-autofocus
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={errors.password}
            aria-invalid={errors.password ? true : undefined}
          />
          {twoFactorEnabled ? (
            <CodeField
              label="Authentication code"
              description="From your authenticator app, or a recovery code"
              allowRecovery
              value={code}
              onChange={setCode}
              error={errors.code}
            />
          ) : null}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" color="red" loading={erase.isPending} disabled={password.length === 0}>
              Delete my account
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
