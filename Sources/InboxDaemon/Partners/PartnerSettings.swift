/// `[partners]`: where `inboxd partner` puts what it makes for an SFTP or rsync partner. Every path can be moved
/// (tests point them at a temp dir and a private sshd/rsyncd); the defaults match the packaged sshd and rsyncd files.
struct PartnerSettings: Sendable, Equatable {
    /// System group of every partner account: the packaged sshd snippet's `Match Group`.
    var group = "inboxd-drop"
    /// Root-owned parent of the per-partner SFTP chroots (`<chroot_root>/NAME/incoming` is the bind mount).
    var chrootRoot = "/srv/inboxd-drop"
    /// One authorized_keys file per partner, named after it (the sshd snippet's `AuthorizedKeysFile …/%u`).
    var sshKeysDirectory = "/etc/inboxd/partners/ssh"
    /// One rsyncd module (`NAME.conf`) and secrets file (`NAME.secrets`) per partner (the rsyncd file's `&include`).
    var rsyncdDirectory = "/etc/inboxd/partners/rsyncd"
    /// Where the bind mount's systemd `.mount` unit is written and enabled (`local-fs.target.wants/`).
    var mountUnitDirectory = "/etc/systemd/system"
}
