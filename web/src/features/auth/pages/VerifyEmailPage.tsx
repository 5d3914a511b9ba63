import { useEffect, useRef } from 'react';
import { Alert, Button } from '@mantine/core';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { Loading } from '../../../components/QueryState';
import { describeError, isApiError } from '../../../api/errors';
import { useVerifyEmail } from '../api/verifyEmail';
import { ResendLink } from '../components/ResendLink';

/**
 * `/verify-email?token=…` (the mailed link): verifies the address, which also signs the person in when
 * this browser is the one that signed up, then opens the console. Opened elsewhere (another browser or
 * device), the address is verified but nobody is signed in: the page says so and offers sign-in. A link
 * that failed offers a new one.
 */
export default function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const navigate = useNavigate();
  const verify = useVerifyEmail();
  const started = useRef(false);
  useEffect(() => {
    // A token works once: never send it twice (React may run an effect twice in development).
    if (!token || started.current) return;
    started.current = true;
    verify.mutate(token, {
      onSuccess: (data) => {
        // Not signed in by the link: stay here and say so (drawn below).
        if (!data.signedIn) return;
        void navigate(data.twoFactorRequired ? '/sign-in?step=second-factor' : '/', { replace: true });
      },
    });
  }, [token, verify, navigate]);

  if (verify.isSuccess && !verify.data.signedIn) {
    return (
      <AuthLayout title="Address verified">
        <Alert color="green" role="status" title="Your email address is verified">
          This browser was not signed in: a verification link signs in only the browser that created the
          account. Sign in with your password to continue (forgot it? reset it from the sign-in page).
        </Alert>
        <Button component={Link} to="/sign-in">
          Sign in
        </Button>
      </AuthLayout>
    );
  }
  if (token && (verify.isIdle || verify.isPending || verify.isSuccess)) {
    return (
      <AuthLayout title="Verifying your address">
        <Loading what="the verification" />
      </AuthLayout>
    );
  }
  const already = isApiError(verify.error, 409, 'AUTH_EMAIL_ALREADY_VERIFIED');
  return (
    <AuthLayout title="Verify your email">
      {already ? (
        <Alert color="green" role="status">
          Your address is already verified.
        </Alert>
      ) : (
        <Alert color="red" role="alert" title="This link does not work">
          {token
            ? isApiError(verify.error, 400)
              ? 'This verification link is invalid, was already used, or has expired.'
              : describeError(verify.error)
            : 'This verification link is incomplete: open the whole link from the mail.'}
        </Alert>
      )}
      {already ? (
        <Button component={Link} to="/">
          Open the console
        </Button>
      ) : (
        <ResendLink />
      )}
    </AuthLayout>
  );
}
