"""Outside experts (评估专家): invitations for a framework (or some of its indicators) and a
period, sign-in links, API tokens with the same scope and period, revocation."""
