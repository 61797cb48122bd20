import { gql } from '@apollo/client';

const AUTH = gql`
  fragment AuthFields on AuthPayload {
    accessToken
    expiresAt
    user { id email name roles permissions }
  }
`;

export const LOGIN = gql`
  mutation Login($input: LoginInput!) { login(input: $input) { ...AuthFields } }
  ${AUTH}
`;

export const SIGNUP = gql`
  mutation Signup($input: SignupInput!) {
    signup(input: $input) { userId email auth { ...AuthFields } }
  }
  ${AUTH}
`;

export const LOGOUT = gql`
  mutation Logout { logout { ok } }
`;

export const ME = gql`
  query Me { me { id email name emailVerified roles permissions expiresAt } }
`;

// Data from the team's services: orders (REST, @rest with batched customers)
// and products (GraphQL, @graphql). Needs the read:orders permission.
export const ORDERS = gql`
  query Orders { orders { id total status customer { name } } products { id name price } }
`;

export const INVITE = gql`
  mutation Invite($input: InviteUserInput!) {
    inviteUser(input: $input) { userId email roles expiresAt ticketUrl resent }
  }
`;

// The back office's list: PENDING, EXPIRED, ACCEPTED or ALL, with who invited
// and until when the link works.
export const INVITATIONS = gql`
  query Invitations($status: InvitationStatus) {
    invitations(status: $status, perPage: 50) {
      total
      items { userId email roles status invitedAt expiresAt invitedBy { sub email } }
    }
  }
`;

export const RESEND_INVITATION = gql`
  mutation ResendInvitation($email: String!) {
    resendInvitation(email: $email) { userId email roles expiresAt ticketUrl resent }
  }
`;

// Deletes the invited user: its link stops working.
export const CANCEL_INVITATION = gql`
  mutation CancelInvitation($email: String!) { cancelInvitation(email: $email) { userId email status } }
`;

// The second step of a login that answered MFA_REQUIRED (extensions.mfa.session).
export const MFA_VERIFY = gql`
  mutation MfaVerify($input: MfaVerifyInput!) { mfaVerify(input: $input) { ...AuthFields recoveryCode } }
  ${AUTH}
`;

export const MFA_ENROLL = gql`
  mutation MfaEnroll($input: MfaEnrollInput!) {
    mfaEnroll(input: $input) { session factor secret otpauthUri recoveryCodes bindingCodeExpected }
  }
`;
